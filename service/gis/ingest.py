"""Storing a detected frame with its position, merging its detections into damage records,
and regrading the drive's road segments -- one transaction per frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo

from sqlalchemy.orm import Session

from service.auth.keys import Principal, Role
from service.geo.geodesy import LonLat
from service.geo.grading import Damage, GradingRules, TrackPoint, grade_segments, split_track
from service.geo.ground_position import CameraModel, estimate
from service.imaging import ImageMetadata
from service.pipeline import ImageRun, detections_of
from service.privacy import PrivacyGuard
from service.review_status import REJECTED, UNREVIEWED
from service.storage import Database, audit
from service.storage.damages import DamageRepository
from service.storage.frame_images import FrameStore, image_key
from service.storage.frames import FrameRepository
from service.storage.models import DamageRecord, DetectionRecord, Frame, RoadSegment, utcnow
from service.storage.segments import SegmentRepository

#: The drive of frames uploaded without a drive id: deduplicated like any drive, but never graded.
UNASSIGNED_DRIVE = "unassigned"


class ForeignDuplicate(Exception):
    """The drive already holds these bytes, stored by another key: nothing of that frame is shown."""

    def __init__(self) -> None:
        super().__init__("this drive already holds the same image, stored with another key")


@dataclass(frozen=True)
class FrameContext:
    """What the uploader tells about a frame; each given field wins over the photo's EXIF."""

    drive_id: str = UNASSIGNED_DRIVE
    lat: float | None = None
    lon: float | None = None
    heading_deg: float | None = None
    captured_at: datetime | None = None
    uploaded_by: Principal | None = None  # recorded on the frame and in the audit log

    @property
    def uploader_name(self) -> str | None:
        return self.uploaded_by.name if self.uploaded_by else None


@dataclass(frozen=True)
class IngestConfig:
    camera: CameraModel
    rules: GradingRules
    dedup_radius_m: float
    categories: Mapping[str, str]  # class name -> collection (road_damage, graffiti); others get no record
    timezone: tzinfo  # for capture times without an offset


@dataclass(frozen=True)
class StoredDetection:
    key: str
    lon: float | None
    lat: float | None
    position_method: str | None
    damage_id: int | None


@dataclass(frozen=True)
class IngestResult:
    frame_id: int
    drive_id: str
    duplicate: bool
    lon: float | None
    lat: float | None
    heading_deg: float | None
    position_source: str | None
    captured_at: datetime | None
    detections: list[StoredDetection]


class FrameIngestor:
    def __init__(self, db: Database, images: FrameStore, config: IngestConfig, privacy: PrivacyGuard | None = None):
        self.db, self.images, self.config = db, images, config
        self.privacy = privacy or PrivacyGuard()  # by default nothing is stored without a full anonymiser

    def ingest(self, run: ImageRun, context: FrameContext, regrade: bool = True) -> IngestResult:
        """Store the frame once per (drive, sha256); a repeated upload changes nothing.

        Raises `AnonymiserUnavailable` (before anything is written) when it may not be stored.
        """
        position, heading, source = _position(context, run.image.metadata)
        captured_at = self._aware(context.captured_at or run.image.metadata.captured_at)
        jpeg = self.privacy.storable(run.image.pixels)
        written = False
        try:
            with self.db.transaction() as session:
                frames = FrameRepository(session)
                frames.lock_drive(context.drive_id)
                existing = frames.find(context.drive_id, run.sha256)
                if existing is not None:
                    if not _may_see(context.uploaded_by, existing):
                        raise ForeignDuplicate()
                    return _result(existing, duplicate=True)
                frame = frames.add(
                    Frame(
                        drive_id=context.drive_id,
                        sha256=run.sha256,
                        received_at=utcnow(),
                        captured_at=captured_at,
                        lon=position.lon if position else None,
                        lat=position.lat if position else None,
                        heading_deg=heading,
                        position_source=source,
                        width=run.image.width,
                        height=run.image.height,
                        image_path=image_key(run.sha256),
                        uploaded_by=context.uploader_name,
                    )
                )
                if context.uploaded_by is not None:
                    audit.record(session, context.uploaded_by, audit.CREATE, f"frame:{frame.id}")
                self._add_detections(session, frame, run, position, heading)
                if regrade and position is not None:
                    self._regrade(session, context.drive_id)
                written = self.images.save(run.sha256, jpeg)  # last: a failed write rolls the records back
                return _result(frame, duplicate=False)
        except BaseException:
            if written:  # the commit failed after the file was written: no record refers to it
                self.images.delete(image_key(run.sha256))
            raise

    def regrade(self, drive_id: str) -> None:
        with self.db.transaction() as session:
            FrameRepository(session).lock_drive(drive_id)
            self._regrade(session, drive_id)

    def _add_detections(
        self, session: Session, frame: Frame, run: ImageRun, position: LonLat | None, heading: float | None
    ) -> None:
        damages = DamageRepository(session)
        size = (run.image.width, run.image.height)
        for r in run.runs:
            for d in detections_of(r, size[0] * size[1]):
                detection = DetectionRecord(
                    key=d.id,
                    detector=d.detector,
                    detector_version=r.detector.card.version,
                    class_name=d.class_name,
                    confidence=d.confidence,
                    x1=d.bbox.x1,
                    y1=d.bbox.y1,
                    x2=d.bbox.x2,
                    y2=d.bbox.y2,
                    area_fraction=d.area_fraction,
                    review_status=UNREVIEWED,
                )
                self._place(damages, frame, detection, position, heading)
                frame.detections.append(detection)
        session.flush()

    def replace(self, session: Session, detection: DetectionRecord) -> None:
        """After a review changed a detection's class, box or status: move it to the damage record
        it now belongs to (none when rejected), refresh both records and regrade its drive, all
        within the caller's transaction."""
        frame = detection.frame
        damages = DamageRepository(session)
        before = detection.damage_id
        position = LonLat(frame.lon, frame.lat) if frame.lon is not None and frame.lat is not None else None
        self._place(damages, frame, detection, position, frame.heading_deg)  # usually back into `before`: same id
        session.flush()
        for record_id in {before, detection.damage_id} - {None}:
            damages.refresh(record_id)
        if position is not None:
            self._regrade(session, frame.drive_id)

    def _place(
        self,
        damages: DamageRepository,
        frame: Frame,
        detection: DetectionRecord,
        position: LonLat | None,
        heading: float | None,
    ) -> None:
        """The detection's ground position, and the damage record it joins (rejected ones join none)."""
        box = (detection.x1, detection.y1, detection.x2, detection.y2)
        ground = estimate(self.config.camera, position, heading, (frame.width, frame.height), box) if position else None
        detection.lon = ground.point.lon if ground else None
        detection.lat = ground.point.lat if ground else None
        detection.position_method = ground.method if ground else None
        category = self.config.categories.get(detection.class_name)
        if ground is None or category is None or detection.review_status == REJECTED:
            detection.damage_id = None
            return
        record = self._merge(damages, frame, detection.class_name, category, ground.point, detection.confidence)
        detection.damage_id = record.id

    def _merge(
        self, damages: DamageRepository, frame: Frame, class_name: str, category: str, point: LonLat, confidence: float
    ) -> DamageRecord:
        """Join the nearest same-class record of the drive within the radius, or start a new one."""
        seen = frame.observed_at
        record = damages.nearest(frame.drive_id, class_name, point, self.config.dedup_radius_m)
        if record is None:
            return damages.add(
                DamageRecord(
                    drive_id=frame.drive_id,
                    category=category,
                    class_name=class_name,
                    lon=point.lon,
                    lat=point.lat,
                    first_seen=seen,
                    last_seen=seen,
                    count=1,
                    max_confidence=confidence,
                    best_frame_id=frame.id,
                )
            )
        n = record.count
        record.lon = (record.lon * n + point.lon) / (n + 1)
        record.lat = (record.lat * n + point.lat) / (n + 1)
        record.count = n + 1
        record.first_seen = min(record.first_seen, seen)
        record.last_seen = max(record.last_seen, seen)
        if confidence > record.max_confidence:
            record.max_confidence = confidence
            record.best_frame_id = frame.id
        return record

    def _regrade(self, session: Session, drive_id: str) -> None:
        if drive_id == UNASSIGNED_DRIVE:
            return  # frames of unrelated uploads form no track
        rules = self.config.rules
        track = [TrackPoint(LonLat(f.lon, f.lat), f.observed_at) for f in FrameRepository(session).track(drive_id)]
        damages = [Damage(LonLat(r.lon, r.lat), r.class_name) for r in DamageRepository(session).of_drive(drive_id)]
        graded = grade_segments(split_track(track, rules.segment_length_m), damages, rules)
        rows = []
        for g in graded:
            line = g.segment.line
            times = [p.time for p in g.segment.points if p.time is not None]
            rows.append(
                RoadSegment(
                    id=f"{drive_id}.{g.segment.seq}",
                    drive_id=drive_id,
                    seq=g.segment.seq,
                    coordinates=[[p.lon, p.lat] for p in line],
                    min_lon=min(p.lon for p in line),
                    min_lat=min(p.lat for p in line),
                    max_lon=max(p.lon for p in line),
                    max_lat=max(p.lat for p in line),
                    length_m=round(g.segment.length_m, 2),
                    start_time=min(times, default=None),
                    end_time=max(times, default=None),
                    damage_count=g.damage_count,
                    damage_index=g.damage_index,
                    grade=g.grade,
                )
            )
        SegmentRepository(session).replace_drive(drive_id, rows)

    def _aware(self, t: datetime | None) -> datetime | None:
        """In UTC; times without an offset (EXIF usually, a client sometimes) are in the service's zone."""
        if t is None:
            return None
        return (t if t.tzinfo else t.replace(tzinfo=self.config.timezone)).astimezone(timezone.utc)


def _position(context: FrameContext, meta: ImageMetadata) -> tuple[LonLat | None, float | None, str | None]:
    """(camera position, heading, where the position came from): the request first, then EXIF."""
    exif = meta.location
    heading = context.heading_deg if context.heading_deg is not None else (exif.heading_deg if exif else None)
    if context.lat is not None and context.lon is not None:
        return LonLat(context.lon, context.lat), heading, "request"
    if exif is not None:
        return LonLat(exif.lon, exif.lat), heading, "exif"
    return None, heading, None


def _may_see(uploader: Principal | None, frame: Frame) -> bool:
    """A repeated upload shows the stored frame only to its owner (by key name) and admins."""
    return uploader is None or uploader.role is Role.ADMIN or frame.uploaded_by == uploader.name


def _result(frame: Frame, duplicate: bool) -> IngestResult:
    return IngestResult(
        frame_id=frame.id,
        drive_id=frame.drive_id,
        duplicate=duplicate,
        lon=frame.lon,
        lat=frame.lat,
        heading_deg=frame.heading_deg,
        position_source=frame.position_source,
        captured_at=frame.captured_at,
        detections=[
            StoredDetection(d.key, d.lon, d.lat, d.position_method, d.damage_id)
            for d in sorted(frame.detections, key=lambda d: d.id)
        ],
    )
