"""Parsing and validating the feature filters of the OGC API and the exports.

Every value is checked here and turned into numbers and aware datetimes; the storage layer
only ever binds those as query parameters.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from pydantic import TypeAdapter, ValidationError

from service.gis.precision import highest_stored, lowest_stored

DEFAULT_LIMIT = 10
MAX_LIMIT = 1000
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_DURATION = re.compile(r"P(\d{1,6}W|(\d{1,6}D)?(T(\d{1,6}H)?(\d{1,6}M)?(\d{1,6}(\.\d{1,6})?S)?)?)", re.IGNORECASE)
_TIMEDELTA = TypeAdapter(timedelta)


class InvalidFilter(ValueError):
    """A filter parameter that cannot be parsed; the message names the parameter."""


@dataclass(frozen=True)
class BBox:
    """WGS84 (CRS84) box; min_lon > max_lon means it crosses the antimeridian."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float


@dataclass(frozen=True)
class Interval:
    """A closed time interval; None marks an open end."""

    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class FeatureQuery:
    bbox: BBox | None = None
    interval: Interval | None = None
    classes: tuple[str, ...] = ()
    detectors: tuple[str, ...] = ()
    drive_id: str | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def parse_bbox(text: str | None) -> BBox | None:
    """`minLon,minLat,maxLon,maxLat` (or 6 numbers with heights, which are ignored), as bounds on
    the stored coordinates that select exactly the features published inside the box."""
    if text is None:
        return None
    parts = text.split(",")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise InvalidFilter(f"bbox: {text!r} is not a comma-separated list of numbers") from None
    if len(numbers) not in (4, 6) or not all(math.isfinite(n) for n in numbers):
        raise InvalidFilter("bbox: expected 4 (or 6) finite numbers: minLon,minLat,maxLon,maxLat")
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    min_lon, min_lat, max_lon, max_lat = numbers
    if not (-180 <= min_lon <= 180 and -180 <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise InvalidFilter("bbox: longitudes must be in [-180, 180], latitudes in [-90, 90] with min <= max")
    return BBox(lowest_stored(min_lon), lowest_stored(min_lat), highest_stored(max_lon), highest_stored(max_lat))


def parse_datetime(text: str | None) -> Interval | None:
    """RFC 3339 instant or date, or an interval `start/end` where either end may be `..` or empty,
    or `start/duration` (ISO 8601, e.g. `2025-05-01/P2D`, as the OGC test suite sends)."""
    if text is None:
        return None
    if "/" not in text:
        start, end = _instant(text, end_of_day=False), _instant(text, end_of_day=True)
        return Interval(start, end)
    if text.count("/") != 1:
        raise InvalidFilter(f"datetime: {text!r} is not an instant or a start/end interval")
    first, second = text.split("/")
    start = None if first in ("", "..") else _instant(first, end_of_day=False)
    if start is not None and second[:1] in ("P", "p"):
        end = _after(start, second)
    else:
        end = None if second in ("", "..") else _instant(second, end_of_day=True)
    if start is None and end is None:
        raise InvalidFilter("datetime: an interval needs at least one bound")
    if start is not None and end is not None and start > end:
        raise InvalidFilter("datetime: the interval starts after it ends")
    return Interval(start, end)


def _after(start: datetime, text: str) -> datetime:
    """`start` plus an ISO 8601 duration of weeks, days, hours, minutes, seconds; months and years
    have no fixed length and are refused."""
    if not _DURATION.fullmatch(text):
        raise InvalidFilter(f"datetime: {text!r} is not a duration of weeks, days or time (e.g. P2D, PT12H)")
    try:
        return start + _TIMEDELTA.validate_python(text.upper())
    except (ValidationError, OverflowError):
        raise InvalidFilter(f"datetime: {text!r} is not a usable duration") from None


def _instant(text: str, end_of_day: bool) -> datetime:
    """A timestamp (naive ones count as UTC), or a date meaning that whole UTC day."""
    value = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise InvalidFilter(f"datetime: {text!r} is not a valid date") from None
        if end_of_day:
            return datetime.combine(day, time.max, tzinfo=timezone.utc)
        return datetime.combine(day, time.min, tzinfo=timezone.utc)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?", value):
        raise InvalidFilter(f"datetime: {text!r} is not an RFC 3339 date-time (e.g. 2025-05-01T10:00:00Z)")
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise InvalidFilter(f"datetime: {text!r} is not a valid date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def parse_limit(text: str | None, maximum: int = MAX_LIMIT, default: int = DEFAULT_LIMIT) -> int:
    """Default when absent; values above the maximum are lowered to it (OGC API - Features)."""
    if text is None:
        return default
    value = _integer(text, "limit")
    if value < 1:
        raise InvalidFilter("limit: must be a positive integer")
    return min(value, maximum)


def parse_offset(text: str | None) -> int:
    value = 0 if text is None else _integer(text, "offset")
    if value < 0:
        raise InvalidFilter("offset: must not be negative")
    return value


def _integer(text: str, parameter: str) -> int:
    if not re.fullmatch(r"[+-]?\d{1,9}", text.strip()):
        raise InvalidFilter(f"{parameter}: {text!r} is not an integer")
    return int(text)


def parse_names(text: str | None, parameter: str) -> tuple[str, ...]:
    """A comma-separated list of machine names (classes, detectors)."""
    if not text:
        return ()
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    bad = [n for n in names if not _NAME.match(n)]
    if bad:
        raise InvalidFilter(f"{parameter}: invalid name(s) {', '.join(map(repr, bad))}")
    return names


def parse_name(text: str | None, parameter: str) -> str | None:
    names = parse_names(text, parameter)
    if len(names) > 1:
        raise InvalidFilter(f"{parameter}: one value expected")
    return names[0] if names else None
