"""ORM models: one table per record kind. Positions are plain WGS84 lon/lat columns.

SQLite and PostgreSQL store the same columns, and GeoJSON is built in Python
(service.gis.features). On PostgreSQL, PostGIS adds a geometry generated from those columns,
with a GiST index, for the bbox filters (`postgis_column`, migration 0006). Times are stored in UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    JSON,
    Boolean,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, Unmapped, mapped_column, relationship, unmapped_column


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware datetime")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


#: The largest id an Integer primary key holds on every backend (PostgreSQL's int4); larger ids
#: in a request cannot exist and must not reach the database driver.
MAX_ROW_ID = 2**31 - 1


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


#: Marks (in `info`) the columns and indexes that exist on PostgreSQL only: database.schema_objects
#: leaves them out when it compares the models with a SQLite database.
POSTGRESQL_ONLY = "postgresql_only"
SRID = 4326  # WGS84 lon/lat, the CRS of every stored position


def postgis_column(geometry_type: str, expression: str) -> Unmapped[Any]:
    """A PostGIS geometry the database computes from the row's lon/lat columns (PostgreSQL only).

    Generated and stored, so no insert path sets it and it cannot drift from the numbers the API
    publishes. Part of the table but not of the mapped class (the ORM never selects or writes it):
    bbox filters compare `Model.__table__.c.<name>` with `&&` in SQL (service.storage.filtering).
    """
    return unmapped_column(
        Geometry(geometry_type, srid=SRID, spatial_index=False),
        Computed(expression, persisted=True),
        info={POSTGRESQL_ONLY: True},
    )


def gist_index(name: str, column: str) -> Index:
    return Index(name, column, postgresql_using="gist", info={POSTGRESQL_ONLY: True})


_POINT = f"ST_SetSRID(ST_MakePoint(lon, lat), {SRID})"


class Frame(Base):
    """One stored photo of a drive: where and when it was taken, and the re-encoded image file."""

    __tablename__ = "frames"
    __table_args__ = (
        UniqueConstraint("drive_id", "sha256", name="uq_frames_drive_sha256"),
        Index("ix_frames_drive_time", "drive_id", "captured_at"),
        Index("ix_frames_received", "received_at"),
        gist_index("ix_frames_geom", "geom"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    drive_id: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64), doc="sha256 of the uploaded bytes")
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    captured_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    heading_deg: Mapped[float | None] = mapped_column(Float)
    position_source: Mapped[str | None] = mapped_column(String(16), doc="exif or request")
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    image_path: Mapped[str | None] = mapped_column(
        String(255), doc="anonymised JPEG under the data folder, without metadata; None once deleted"
    )
    image_deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, doc="when retention deleted the image")
    uploaded_by: Mapped[str | None] = mapped_column(String(64), doc="name of the API key that stored the frame")
    geom: Unmapped[Any] = postgis_column("POINT", _POINT)

    detections: Mapped[list[DetectionRecord]] = relationship(back_populates="frame", cascade="all, delete-orphan")

    @property
    def observed_at(self) -> datetime:
        return self.captured_at or self.received_at


class DamageRecord(Base):
    """One physical damage (or graffiti): same-class detections of a drive within a few metres."""

    __tablename__ = "damage_records"
    __table_args__ = (
        Index("ix_damage_lookup", "drive_id", "class_name", "lat", "lon"),
        Index("ix_damage_category_position", "category", "lon", "lat"),
        gist_index("ix_damage_geom", "geom"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    drive_id: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32), doc="the collection: road_damage or graffiti")
    class_name: Mapped[str] = mapped_column(String(64))
    lon: Mapped[float] = mapped_column(Float, doc="mean of the sightings' ground positions")
    lat: Mapped[float] = mapped_column(Float)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    count: Mapped[int] = mapped_column(Integer, doc="number of detections merged into this record")
    max_confidence: Mapped[float] = mapped_column(Float)
    best_frame_id: Mapped[int] = mapped_column(ForeignKey("frames.id"))
    review_status: Mapped[str] = mapped_column(
        String(16),
        default="unreviewed",
        server_default="unreviewed",
        doc="the strongest decision on its detections (service.review_status.record_status)",
    )
    geom: Unmapped[Any] = postgis_column("POINT", _POINT)

    best_frame: Mapped[Frame] = relationship(lazy="selectin")  # its photo may have been deleted (retention)


class DetectionRecord(Base):
    """One box on a frame: found by a model (`detector_version` says which version) or drawn by
    staff in review (`detector_version` None). `class_name` and the box are the current truth;
    when a reviewer corrected them, `model_class_name`/`model_box` keep what the model said."""

    __tablename__ = "detections"
    __table_args__ = (
        Index("ix_detections_position", "lon", "lat"),
        Index("ix_detections_review", "review_status", "confidence"),
        gist_index("ix_detections_geom", "geom"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    frame_id: Mapped[int] = mapped_column(ForeignKey("frames.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(20), doc="the API's stable detection id")
    detector: Mapped[str] = mapped_column(String(64))
    detector_version: Mapped[str | None] = mapped_column(String(64), doc="None: drawn by staff in review")
    class_name: Mapped[str] = mapped_column(String(64))
    confidence: Mapped[float] = mapped_column(Float)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    area_fraction: Mapped[float] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float, doc="estimated ground position")
    lat: Mapped[float | None] = mapped_column(Float)
    position_method: Mapped[str | None] = mapped_column(String(16), doc="projected or camera")
    damage_id: Mapped[int | None] = mapped_column(ForeignKey("damage_records.id", ondelete="SET NULL"), index=True)
    review_status: Mapped[str] = mapped_column(
        String(16), default="unreviewed", server_default="unreviewed", doc="service.review_status.STATUSES"
    )
    reviewed_by: Mapped[str | None] = mapped_column(String(64), doc="name of the API key of the last decision")
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    model_class_name: Mapped[str | None] = mapped_column(String(64), doc="the model's class, once corrected")
    model_box: Mapped[list | None] = mapped_column(JSON, doc="the model's [x1, y1, x2, y2], once corrected")
    geom: Unmapped[Any] = postgis_column("POINT", _POINT)

    frame: Mapped[Frame] = relationship(back_populates="detections")


class RoadSegment(Base):
    """A graded piece of a drive's track; recomputed when the drive gets new frames."""

    __tablename__ = "road_segments"
    __table_args__ = (
        Index("ix_segments_bbox", "min_lon", "min_lat", "max_lon", "max_lat"),
        gist_index("ix_segments_bbox_geom", "bbox"),
    )

    id: Mapped[str] = mapped_column(String(80), primary_key=True, doc="<drive_id>.<seq>: stable across regrading")
    drive_id: Mapped[str] = mapped_column(String(64), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    coordinates: Mapped[list] = mapped_column(JSON, doc="GeoJSON LineString coordinates [[lon, lat], ...]")
    min_lon: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
    length_m: Mapped[float] = mapped_column(Float)
    start_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    end_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    damage_count: Mapped[int] = mapped_column(Integer)
    damage_index: Mapped[float] = mapped_column(Float, doc="severity-weighted damages per 100 m")
    grade: Mapped[int] = mapped_column(Integer, doc="1 very good ... 5 urgent")
    graded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    # The bounding box, not the line: the bbox filter tests boxes (a superset test for lines).
    bbox: Unmapped[Any] = postgis_column("POLYGON", f"ST_MakeEnvelope(min_lon, min_lat, max_lon, max_lat, {SRID})")


class Job(Base):
    """A background batch: progress that survives the request which started it."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    drive_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), doc="queued, running, done, failed")
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list] = mapped_column(JSON, default=list, doc="the first per-item errors")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64), doc="name of the API key that started the job")
    params: Mapped[dict | None] = mapped_column(
        JSON, doc="how to process the frames (detectors, thresholds, uploader): any worker can take them up"
    )


class StagedFrame(Base):
    """A frame of a batch job, kept in the database from the upload until a worker processed it.

    `data` holds the original as uploaded (not anonymised): it is cleared in the transaction that
    records the frame's outcome, and the row goes when its job finishes (docs/privacy.md).
    """

    __tablename__ = "staged_frames"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer, doc="position in the upload: frames are processed in this order")
    name: Mapped[str] = mapped_column(String(255))
    data: Mapped[bytes | None] = mapped_column(LargeBinary, doc="the original; None once processed")
    outcome: Mapped[str | None] = mapped_column(String(16), doc="None while pending; stored, failed or skipped")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)

    __table_args__ = (UniqueConstraint("job_id", "seq", name="uq_staged_frames_job_seq"),)


class ApiKey(Base):
    """An API key: only the SHA-256 digest of the secret is kept (service.auth.keys)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(12), primary_key=True, doc="the public part of the key")
    name: Mapped[str] = mapped_column(String(64), index=True, doc="who or what uses it; unique among active keys")
    role: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class RateLimitBucket(Base):
    """One API key's token bucket, shared by every replica on PostgreSQL (service.storage.rate_limits).

    Times are the database's clock in seconds since the epoch, so replicas whose clocks differ
    still count one budget. SQLite installations (one process) keep their buckets in memory.
    """

    __tablename__ = "rate_limit_buckets"

    key_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float, doc="left after the last request")
    updated_s: Mapped[float] = mapped_column(Float, doc="database time of the last request")
    granted: Mapped[bool] = mapped_column(Boolean, doc="whether the last request got a token")


class AuditEvent(Base):
    """Who read, changed or deleted stored personal data (images, lost-property records), and when."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_target", "target"), Index("ix_audit_actor_time", "actor", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64), doc="the API key's name")
    key_id: Mapped[str] = mapped_column(String(12))
    action: Mapped[str] = mapped_column(String(16), doc="read, create, update, delete, ...")
    target: Mapped[str] = mapped_column(String(128), doc="<kind>:<id>, e.g. frame:12")


class LostItem(Base):
    """A found item handed in at the lost-property desk (service.lost_property, docs/lost_property.md)."""

    __tablename__ = "lost_items"
    __table_args__ = (
        Index("ix_lost_items_category_found", "category", "found_at"),
        Index("ix_lost_items_retention", "retain_until", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), doc="registered, returned or disposed")
    category: Mapped[str] = mapped_column(String(32), doc="taxonomy key; recognised or corrected")
    colours: Mapped[list] = mapped_column(JSON, doc="palette keys, main colour first")
    description: Mapped[dict] = mapped_column(JSON, doc="what was recognised at registration (the JSON schema)")
    search_terms: Mapped[str] = mapped_column(Text, doc="' term term ... ': words and keys free text matches")
    found_at: Mapped[datetime] = mapped_column(UtcDateTime)
    found_place: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(String(2000))
    retain_until: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64), doc="name of the API key that registered it")
    sha256: Mapped[str] = mapped_column(String(64), doc="sha256 of the uploaded photo (names its file)")
    photo_path: Mapped[str | None] = mapped_column(String(255), doc="anonymised JPEG; None once deleted")
    photo_deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    embedding_kind: Mapped[str | None] = mapped_column(String(64), doc="which extractor made `embedding`")
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, doc="float32 L2-normalised vector of the item")
