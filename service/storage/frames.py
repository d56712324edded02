"""Frames and their detections: idempotent insert, per-drive write lock, the drive's track."""

from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from service.storage.database import hold_lock
from service.storage.filtering import FeatureQuery, overlaps, page, point_in_bbox
from service.storage.models import DetectionRecord, Frame


class FrameRepository:
    def __init__(self, session: Session):
        self.session = session

    def lock_drive(self, drive_id: str) -> None:
        """Serialise writers of one drive until the transaction ends (dedup must see their records).

        Holds across processes (API replicas, workers)."""
        hold_lock(self.session, f"drive:{drive_id}")

    def find(self, drive_id: str, sha256: str) -> Frame | None:
        stmt = select(Frame).where(Frame.drive_id == drive_id, Frame.sha256 == sha256)
        return self.session.scalars(stmt.options(selectinload(Frame.detections))).first()

    def get(self, frame_id: int) -> Frame | None:
        return self.session.get(Frame, frame_id)

    def add(self, frame: Frame) -> Frame:
        self.session.add(frame)
        self.session.flush()
        return frame

    def track(self, drive_id: str) -> list[Frame]:
        """The drive's positioned frames in capture order (upload order where times are missing)."""
        stmt = (
            select(Frame)
            .where(Frame.drive_id == drive_id, Frame.lat.is_not(None), Frame.lon.is_not(None))
            .order_by(func.coalesce(Frame.captured_at, Frame.received_at), Frame.id)
        )
        return list(self.session.scalars(stmt))


def detections_query(query: FeatureQuery) -> Select[tuple[DetectionRecord]]:
    """Positioned detections matching the filters, with their frames loaded."""
    observed = func.coalesce(Frame.captured_at, Frame.received_at)
    stmt = (
        select(DetectionRecord)
        .join(Frame)
        .where(DetectionRecord.lat.is_not(None), DetectionRecord.lon.is_not(None))
        .options(selectinload(DetectionRecord.frame))
    )
    if query.bbox:
        stmt = stmt.where(point_in_bbox(DetectionRecord, query.bbox))
    if query.interval:
        stmt = stmt.where(overlaps(observed, observed, query.interval))
    if query.classes:
        stmt = stmt.where(DetectionRecord.class_name.in_(query.classes))
    if query.detectors:
        stmt = stmt.where(DetectionRecord.detector.in_(query.detectors))
    if query.drive_id:
        stmt = stmt.where(Frame.drive_id == query.drive_id)
    if query.review_statuses:
        stmt = stmt.where(DetectionRecord.review_status.in_(query.review_statuses))
    return stmt


def find_detections(session: Session, query: FeatureQuery) -> tuple[int, list[DetectionRecord]]:
    return page(session, detections_query(query), query, DetectionRecord.id)
