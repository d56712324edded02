"""The review queue and the reviewed frames: queries over detections for the review workflow."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, selectinload

from service.geo.boxes import GeoBox
from service.review_status import UNREVIEWED
from service.storage.filtering import Interval, overlaps, point_in_bbox
from service.storage.models import DetectionRecord, Frame


@dataclass(frozen=True)
class QueueQuery:
    """Which detections a reviewer works through; lowest confidence first (most likely wrong)."""

    statuses: tuple[str, ...] = (UNREVIEWED,)
    drive_id: str | None = None
    bbox: GeoBox | None = None  # the camera position of the frame: frames without one never match
    detectors: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    min_confidence: float | None = None
    max_confidence: float | None = None
    limit: int = 50
    offset: int = 0


def find_queue(session: Session, query: QueueQuery) -> tuple[int, list[DetectionRecord]]:
    """(number matched, the page of detections with their frames), frames whose image retention
    deleted left out: nothing to look at."""
    stmt = (
        select(DetectionRecord)
        .join(Frame)
        .where(Frame.image_path.is_not(None))
        .options(selectinload(DetectionRecord.frame).selectinload(Frame.detections))
    )
    if query.statuses:
        stmt = stmt.where(DetectionRecord.review_status.in_(query.statuses))
    if query.drive_id:
        stmt = stmt.where(Frame.drive_id == query.drive_id)
    if query.bbox:
        stmt = stmt.where(point_in_bbox(Frame, query.bbox))
    if query.detectors:
        stmt = stmt.where(DetectionRecord.detector.in_(query.detectors))
    if query.classes:
        stmt = stmt.where(DetectionRecord.class_name.in_(query.classes))
    if query.min_confidence is not None:
        stmt = stmt.where(DetectionRecord.confidence >= query.min_confidence)
    if query.max_confidence is not None:
        stmt = stmt.where(DetectionRecord.confidence <= query.max_confidence)
    matched = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(DetectionRecord.confidence, DetectionRecord.id).limit(query.limit).offset(query.offset)
    ).all()
    return matched, list(rows)


def reviewed_frames(session: Session, detector: str, drive_id: str | None, interval: Interval | None) -> list[Frame]:
    """Frames whose every detection of `detector` has a decision (at least one), image still stored,
    in capture order: a frame with an undecided box would teach a model a wrong "nothing here"."""
    mine = DetectionRecord.detector == detector
    observed = func.coalesce(Frame.captured_at, Frame.received_at)
    stmt = (
        select(Frame)
        .where(
            Frame.image_path.is_not(None),
            exists().where(DetectionRecord.frame_id == Frame.id, mine),
            ~exists().where(DetectionRecord.frame_id == Frame.id, mine, DetectionRecord.review_status == UNREVIEWED),
        )
        .options(selectinload(Frame.detections))
        .order_by(observed, Frame.id)
    )
    if drive_id:
        stmt = stmt.where(Frame.drive_id == drive_id)
    if interval:
        stmt = stmt.where(overlaps(observed, observed, interval))
    return list(session.scalars(stmt))
