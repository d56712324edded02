"""Feature queries as SQL conditions: bounded parameters only, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from service.geo.boxes import GeoBox

T = TypeVar("T")
DEFAULT_LIMIT = 10


@dataclass(frozen=True)
class Interval:
    """A closed time interval; None marks an open end."""

    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class FeatureQuery:
    """What a feature query asks for, already parsed and validated (`service.gis.filters`)."""

    bbox: GeoBox | None = None
    interval: Interval | None = None
    classes: tuple[str, ...] = ()
    detectors: tuple[str, ...] = ()
    drive_id: str | None = None
    review_statuses: tuple[str, ...] = ()
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def point_in_bbox(lon: Any, lat: Any, box: GeoBox) -> ColumnElement[bool]:
    if box.min_lon <= box.max_lon:
        lon_ok = lon.between(box.min_lon, box.max_lon)
    else:  # crosses the antimeridian
        lon_ok = or_(lon >= box.min_lon, lon <= box.max_lon)
    return and_(lon_ok, lat.between(box.min_lat, box.max_lat))


def box_intersects_bbox(min_lon: Any, min_lat: Any, max_lon: Any, max_lat: Any, box: GeoBox) -> ColumnElement[bool]:
    """The stored bounding box overlaps the query box (a superset test for lines)."""
    lat_ok = and_(min_lat <= box.max_lat, max_lat >= box.min_lat)
    if box.min_lon <= box.max_lon:
        return and_(lat_ok, min_lon <= box.max_lon, max_lon >= box.min_lon)
    return and_(lat_ok, or_(max_lon >= box.min_lon, min_lon <= box.max_lon))


def overlaps(start: Any, end: Any, interval: Interval) -> ColumnElement[bool]:
    """[start, end] of the record overlaps the interval; records without a time never match."""
    conditions = [start.is_not(None), end.is_not(None)]
    if interval.end is not None:
        conditions.append(start <= interval.end)
    if interval.start is not None:
        conditions.append(end >= interval.start)
    return and_(*conditions)


def page(session: Session, stmt: Select[tuple[T]], query: FeatureQuery, order_by: Any) -> tuple[int, list[T]]:
    """(number matched, the rows of the requested page) in a stable order."""
    matched = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.scalars(stmt.order_by(order_by).limit(query.limit).offset(query.offset)).all()
    return matched, list(rows)
