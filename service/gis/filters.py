"""Parsing and validating the feature filters of the OGC API and the exports.

Every value is checked here and turned into numbers and aware datetimes; the storage layer
only ever binds those as query parameters.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

from service.gis.precision import highest_stored, lowest_stored
from service.review.status import STATUSES
from service.times import InvalidInstant, parse_interval

DEFAULT_LIMIT = 10
MAX_LIMIT = 1000
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


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
    review_statuses: tuple[str, ...] = ()
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
    or `start/duration` (ISO 8601, e.g. `2025-05-01/P2D`, as the OGC test suite sends): the rules
    of service.times, shared by every route."""
    if text is None:
        return None
    try:
        return Interval(*parse_interval(text))
    except InvalidInstant as exc:
        raise InvalidFilter(f"datetime: {exc}") from None


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


def parse_review_statuses(text: str | None) -> tuple[str, ...]:
    """A comma-separated list of review states (service.review.status.STATUSES)."""
    statuses = parse_names(text, "review_status")
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        raise InvalidFilter(f"review_status: unknown {', '.join(map(repr, unknown))}; one of {', '.join(STATUSES)}")
    return statuses
