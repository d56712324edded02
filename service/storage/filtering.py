"""Feature queries as SQL conditions: bounded parameters only, the same answers on SQLite and PostgreSQL.

A bbox condition compares the stored lon/lat numbers on every backend: that is what decides. On
PostgreSQL it also tests the PostGIS geometry (`&&` with the GiST index, models.postgis_column)
first, so the index finds the candidates; `&&` compares boxes rounded outward to float4, a
superset, so the exact comparison that follows keeps the answer identical to SQLite's, edges
included. `_BoxFilter` is the one place that chooses by dialect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from sqlalchemy import Boolean, ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import Grouping, UnaryExpression
from sqlalchemy.sql.visitors import InternalTraversal

from service.geo.boxes import GeoBox
from service.storage.models import SRID

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


def point_in_bbox(entity: Any, box: GeoBox) -> ColumnElement[bool]:
    """The stored point (`lon`, `lat`; PostGIS `geom`) lies in the box, edges included."""
    lon, lat = entity.lon, entity.lat
    if box.min_lon <= box.max_lon:
        lon_ok = lon.between(box.min_lon, box.max_lon)
    else:  # crosses the antimeridian
        lon_ok = or_(lon >= box.min_lon, lon <= box.max_lon)
    exact = and_(lon_ok, lat.between(box.min_lat, box.max_lat))
    return _BoxFilter(exact, _envelopes_overlap(entity.__table__.c.geom, box))


def box_intersects_bbox(entity: Any, box: GeoBox) -> ColumnElement[bool]:
    """The stored bounding box (`min_lon` ... `max_lat`; PostGIS `bbox`) overlaps the query box
    (a superset test for lines)."""
    e = entity
    lat_ok = and_(e.min_lat <= box.max_lat, e.max_lat >= box.min_lat)
    if box.min_lon <= box.max_lon:
        exact = and_(lat_ok, e.min_lon <= box.max_lon, e.max_lon >= box.min_lon)
    else:
        exact = and_(lat_ok, or_(e.max_lon >= box.min_lon, e.min_lon <= box.max_lon))
    return _BoxFilter(exact, _envelopes_overlap(e.__table__.c.bbox, box))


def _envelopes_overlap(geom: Any, box: GeoBox) -> ColumnElement[bool]:
    """`geom && box` in PostGIS; a box across the antimeridian is its two halves (stored
    longitudes lie in [-180, 180])."""
    if box.min_lon <= box.max_lon:
        halves = [(box.min_lon, box.max_lon)]
    else:
        halves = [(box.min_lon, 180.0), (-180.0, box.max_lon)]
    return or_(*(geom.intersects(func.ST_MakeEnvelope(w, box.min_lat, e, box.max_lat, SRID)) for w, e in halves))


class _BoxFilter(ColumnElement[bool]):
    """`exact` on every backend; on PostgreSQL `indexed AND exact`, so the GiST index is used."""

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a condition as it stands: no "= 1" on SQLite
    _traverse_internals: ClassVar = [
        ("exact", InternalTraversal.dp_clauseelement),
        ("indexed", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, exact: ColumnElement[bool], indexed: ColumnElement[bool]):
        self.exact = exact
        self.indexed = indexed

    @property
    def _from_objects(self) -> list[Any]:
        return self.exact._from_objects

    def self_group(self, against: Any = None) -> ColumnElement[bool]:
        """Bare among AND-ed conditions (SQLite's SQL stays as it was), in parentheses elsewhere."""
        return self if against in (None, operators.and_) else Grouping(self)

    def _negate(self) -> ColumnElement[bool]:
        return UnaryExpression(Grouping(self), operator=operators.inv)


@compiles(_BoxFilter)
def _compile_exact(element: _BoxFilter, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.exact, **kw)


@compiles(_BoxFilter, "postgresql")
def _compile_indexed(element: _BoxFilter, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(and_(element.indexed, element.exact), **kw)


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
