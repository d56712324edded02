"""Graded road segments: replaced per drive when it is regraded, queried as line features."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from service.storage.filtering import FeatureQuery, box_intersects_bbox, overlaps, page
from service.storage.models import RoadSegment


class SegmentRepository:
    def __init__(self, session: Session):
        self.session = session

    def replace_drive(self, drive_id: str, segments: list[RoadSegment]) -> None:
        self.session.execute(delete(RoadSegment).where(RoadSegment.drive_id == drive_id))
        self.session.add_all(segments)
        self.session.flush()

    def get(self, segment_id: str) -> RoadSegment | None:
        return self.session.get(RoadSegment, segment_id)

    def find(self, query: FeatureQuery) -> tuple[int, list[RoadSegment]]:
        stmt = select(RoadSegment)
        if query.bbox:
            stmt = stmt.where(box_intersects_bbox(RoadSegment, query.bbox))
        if query.interval:
            stmt = stmt.where(overlaps(RoadSegment.start_time, RoadSegment.end_time, query.interval))
        if query.drive_id:
            stmt = stmt.where(RoadSegment.drive_id == query.drive_id)
        return page(self.session, stmt, query, RoadSegment.id)

    def extent(self) -> tuple[tuple[float, ...] | None, tuple]:
        row = self.session.execute(
            select(
                func.min(RoadSegment.min_lon),
                func.min(RoadSegment.min_lat),
                func.max(RoadSegment.max_lon),
                func.max(RoadSegment.max_lat),
                func.min(RoadSegment.start_time),
                func.max(RoadSegment.end_time),
            )
        ).one()
        return (None if row[0] is None else tuple(row[:4])), (row[4], row[5])
