"""Instants from clients and cameras: one parser and one range for every route.

The rules are those of OGC API – Features for its `datetime` parameter, applied everywhere (query
filters, form fields, JSON bodies): an RFC 3339 date-time (`T`, `t` or a space between date and
time; `Z` or a `±hh:mm` offset; a time without an offset is UTC unless the field says otherwise),
or a date alone meaning that whole UTC day (its first instant for a start, its last for an end);
an interval is `start/end` where either end may be `..` or empty, or `start/duration` (ISO 8601
weeks, days and time, e.g. `2025-05-01/P2D`, as the OGC test suite sends).

Every accepted instant lies between 0001-01-02 and 9999-12-30 (UTC): far from the ends of the
calendar, so moving it into any time zone can never overflow (which used to end in a 500).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Annotated, Any

from pydantic import BeforeValidator, TypeAdapter, ValidationError, WithJsonSchema

EARLIEST = datetime(1, 1, 2, tzinfo=timezone.utc)
LATEST = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=timezone.utc)

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DURATION = re.compile(r"P(\d{1,6}W|(\d{1,6}D)?(T(\d{1,6}H)?(\d{1,6}M)?(\d{1,6}(\.\d{1,6})?S)?)?)", re.IGNORECASE)
_TIMEDELTA = TypeAdapter(timedelta)
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})?")


class InvalidInstant(ValueError):
    """Text that is not an instant by the rules above, or one outside the accepted years."""


def parse_instant(text: str, *, end_of_day: bool = False, naive: tzinfo | None = timezone.utc) -> datetime:
    """An aware instant; `naive`: the zone of a time without an offset (None: keep it naive)."""
    value = text.strip()
    if _DATE.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise InvalidInstant(f"{text!r} is not a valid date") from None
        return in_range(datetime.combine(day, time.max if end_of_day else time.min, tzinfo=timezone.utc))
    if not _DATE_TIME.fullmatch(value):
        raise InvalidInstant(f"{text!r} is not an RFC 3339 date-time (e.g. 2025-05-01T10:00:00Z)")
    value = re.sub(r"\.(\d{6})\d+", r".\1", value)  # nanoseconds: Python keeps microseconds
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInstant(f"{text!r} is not a valid date-time") from None
    if parsed.tzinfo is None and naive is not None:
        parsed = parsed.replace(tzinfo=naive)
    return in_range(parsed)


def parse_interval(text: str) -> tuple[datetime | None, datetime | None]:
    """An instant (a date: that whole day), `start/end` or `start/duration`; None marks an open end."""
    if "/" not in text:
        return parse_instant(text), parse_instant(text, end_of_day=True)
    if text.count("/") != 1:
        raise InvalidInstant(f"{text!r} is not an instant or a start/end interval")
    first, second = text.split("/")
    start = None if first.strip() in ("", "..") else parse_instant(first)
    if start is not None and second.strip()[:1] in ("P", "p"):
        end = in_range(_after(start, second.strip()))
    else:
        end = None if second.strip() in ("", "..") else parse_instant(second, end_of_day=True)
    if start is None and end is None:
        raise InvalidInstant("an interval needs at least one bound")
    if start is not None and end is not None and start > end:
        raise InvalidInstant("the interval starts after it ends")
    return start, end


def _after(start: datetime, text: str) -> datetime:
    """`start` plus an ISO 8601 duration of weeks, days, hours, minutes, seconds; months and years
    have no fixed length and are refused."""
    if not _DURATION.fullmatch(text):
        raise InvalidInstant(f"{text!r} is not a duration of weeks, days or time (e.g. P2D, PT12H)")
    try:
        return start + _TIMEDELTA.validate_python(text.upper())
    except (ValidationError, OverflowError):
        raise InvalidInstant(f"{text!r} is not a usable duration") from None


def in_range(value: datetime) -> datetime:
    """`value` (naive ones compared as they are) when it lies within EARLIEST..LATEST."""
    low, high = (EARLIEST, LATEST) if value.tzinfo else (EARLIEST.replace(tzinfo=None), LATEST.replace(tzinfo=None))
    try:
        inside = low <= value <= high
    except OverflowError:  # an offset pushing it past the calendar's ends
        inside = False
    if not inside:
        raise InvalidInstant(
            f"{value.isoformat()} is outside the accepted years ({EARLIEST:%Y-%m-%d}..{LATEST:%Y-%m-%d})"
        )
    return value


def plausible(value: datetime | None) -> datetime | None:
    """A camera's time if it is within range, else None (as if the camera had recorded none)."""
    try:
        return None if value is None else in_range(value)
    except InvalidInstant:
        return None


def _validator(end_of_day: bool, naive: tzinfo | None) -> Any:
    def check(value: Any) -> Any:
        if isinstance(value, datetime):
            return in_range(value if value.tzinfo or naive is None else value.replace(tzinfo=naive))
        if isinstance(value, str):
            return parse_instant(value, end_of_day=end_of_day, naive=naive)
        raise InvalidInstant("an RFC 3339 date-time string is expected")

    return BeforeValidator(check)


_SCHEMA = WithJsonSchema({"type": "string", "format": "date-time"})
#: An instant in a request (a date alone: its first instant, UTC).
Instant = Annotated[datetime, _validator(False, timezone.utc), _SCHEMA]
#: The end of a range in a request (a date alone: its last instant, UTC).
InstantUntil = Annotated[datetime, _validator(True, timezone.utc), _SCHEMA]
#: A capture time from a client: without an offset it stays naive (the service's zone applies later).
LocalInstant = Annotated[datetime, _validator(False, None), _SCHEMA]
