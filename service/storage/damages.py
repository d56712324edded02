"""Damage records: the nearest same-class record of a drive (for dedup), and feature queries."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from service.geo.geodesy import LonLat, degree_box, distance_m
from service.review_status import record_status
from service.storage.filtering import FeatureQuery, overlaps, page, point_in_bbox
from service.storage.models import DamageRecord, DetectionRecord


class DamageRepository:
    def __init__(self, session: Session):
        self.session = session

    def nearest(self, drive_id: str, class_name: str, point: LonLat, radius_m: float) -> DamageRecord | None:
        """The closest record of that class within `radius_m`: a box prefilter in SQL, exact in Python."""
        min_lon, min_lat, max_lon, max_lat = degree_box(point, radius_m)
        stmt = select(DamageRecord).where(
            DamageRecord.drive_id == drive_id,
            DamageRecord.class_name == class_name,
            DamageRecord.lat.between(min_lat, max_lat),
            DamageRecord.lon.between(min_lon, max_lon),
        )
        scored = [(distance_m(point, LonLat(r.lon, r.lat)), r.id, r) for r in self.session.scalars(stmt)]
        scored = [s for s in scored if s[0] <= radius_m]
        return min(scored, key=lambda s: (s[0], s[1]))[2] if scored else None

    def add(self, record: DamageRecord) -> DamageRecord:
        self.session.add(record)
        self.session.flush()
        return record

    def refresh(self, record_id: int) -> None:
        """Recompute a record from the detections it still holds (after a review moved or rejected
        one): the same mean position, times, count and best sighting as merging gives; a record
        left without detections is deleted, so it leaves the map and the grades."""
        members = list(self.session.scalars(select(DetectionRecord).where(DetectionRecord.damage_id == record_id)))
        if not members:
            self.session.execute(delete(DamageRecord).where(DamageRecord.id == record_id))
            return
        record = self.session.get(DamageRecord, record_id)
        seen = [d.frame.observed_at for d in members]
        best = max(members, key=lambda d: (d.confidence, -d.id))
        record.count = len(members)
        record.lon = sum(d.lon for d in members) / len(members)
        record.lat = sum(d.lat for d in members) / len(members)
        record.first_seen, record.last_seen = min(seen), max(seen)
        record.max_confidence, record.best_frame_id = best.confidence, best.frame_id
        record.review_status = record_status(d.review_status for d in members)

    def of_drive(self, drive_id: str) -> list[DamageRecord]:
        return list(self.session.scalars(select(DamageRecord).where(DamageRecord.drive_id == drive_id)))

    def get(self, category: str, record_id: int) -> DamageRecord | None:
        record = self.session.get(DamageRecord, record_id)
        return record if record is not None and record.category == category else None

    def find(self, category: str, query: FeatureQuery) -> tuple[int, list[DamageRecord]]:
        stmt = select(DamageRecord).where(DamageRecord.category == category)
        if query.bbox:
            stmt = stmt.where(point_in_bbox(DamageRecord, query.bbox))
        if query.interval:
            stmt = stmt.where(overlaps(DamageRecord.first_seen, DamageRecord.last_seen, query.interval))
        if query.classes:
            stmt = stmt.where(DamageRecord.class_name.in_(query.classes))
        if query.drive_id:
            stmt = stmt.where(DamageRecord.drive_id == query.drive_id)
        if query.review_statuses:
            stmt = stmt.where(DamageRecord.review_status.in_(query.review_statuses))
        return page(self.session, stmt, query, DamageRecord.id)

    def extent(self, category: str) -> tuple[tuple[float, ...] | None, tuple]:
        """((min_lon, min_lat, max_lon, max_lat) or None, (first, last) time) of a collection."""
        row = self.session.execute(
            select(
                func.min(DamageRecord.lon),
                func.min(DamageRecord.lat),
                func.max(DamageRecord.lon),
                func.max(DamageRecord.lat),
                func.min(DamageRecord.first_seen),
                func.max(DamageRecord.last_seen),
            ).where(DamageRecord.category == category)
        ).one()
        return (None if row[0] is None else tuple(row[:4])), (row[4], row[5])
