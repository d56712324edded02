"""What every process that detects and stores frames builds from the settings: the API replicas
(`stadtblick serve`) and the batch workers (`stadtblick worker`) alike, so both store a frame
with the same detectors, anonymiser, grading and storage (docs/scaling.md)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from service.config import Settings
from service.geo.grading import GradingRules
from service.geo.ground_position import CameraModel
from service.gis import GRAFFITI, ROAD_DAMAGE
from service.gis.batch import BatchProcessor, StagedFrameRule
from service.gis.ingest import FrameIngestor, IngestConfig
from service.gis.queue import FrameQueue
from service.imaging import ImageLimits
from service.inference import SessionConfig
from service.privacy import AnonymiseConfig, AnonymiserUnavailable, PrivacyGuard
from service.privacy.sources import load_anonymiser
from service.registry.registry import ModelRegistry
from service.retention_rules import standard_rules
from service.storage import Database
from service.storage.frame_images import DirectoryStore, FrameStore
from service.storage.object_store import ObjectStore
from service.storage.retention import RetentionRule

log = logging.getLogger(__name__)


def image_limits(settings: Settings) -> ImageLimits:
    return ImageLimits(
        max_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_image_pixels,
        max_side=settings.max_image_side,
        max_aspect_ratio=settings.max_image_aspect_ratio,
    )


def camera_model(settings: Settings) -> CameraModel:
    return CameraModel(
        height_m=settings.camera_height_m,
        pitch_deg=settings.camera_pitch_deg,
        hfov_deg=settings.camera_hfov_deg,
        max_distance_m=settings.max_projection_m,
    )


def grading_rules(settings: Settings) -> GradingRules:
    return GradingRules(
        segment_length_m=settings.segment_length_m,
        weights=settings.damage_weights,
        thresholds=settings.grade_thresholds,
    )


def damage_categories(settings: Settings) -> dict[str, str]:
    """Class name -> the collection its damage records belong to."""
    return {c: GRAFFITI for c in settings.graffiti_classes} | {c: ROAD_DAMAGE for c in settings.road_damage_classes}


def anonymise_config(settings: Settings) -> AnonymiseConfig:
    return AnonymiseConfig(
        mode=settings.anonymise_mode,
        margin=settings.anonymise_margin,
        conf=settings.anonymise_conf,
        ellipse_faces=settings.anonymise_ellipse_faces,
        tile_min_side=settings.anonymise_tile_min_side,
    )


def privacy_guard(settings: Settings) -> PrivacyGuard:
    return PrivacyGuard(required=settings.require_anonymisation, classes=frozenset(settings.anonymise_classes))


def photo_store(settings: Settings, kind: Literal["frames", "lost_items"]) -> FrameStore:
    """The store of one kind of photo: the folder `kind` in the directory, or the prefix `kind/` in the bucket."""
    if settings.frame_store.startswith("s3://"):
        url = f"{settings.frame_store.rstrip('/')}/{kind}"
        return ObjectStore(url, settings.frame_store_endpoint, settings.frame_store_timeout_s)
    return DirectoryStore(Path(settings.frame_store or settings.data_dir) / kind)


@dataclass
class Runtime:
    settings: Settings
    database: Database
    registry: ModelRegistry
    privacy: PrivacyGuard
    ingestor: FrameIngestor
    lost_item_photos: FrameStore
    batches: BatchProcessor
    queue: FrameQueue | None  # PostgreSQL: batch frames go to `stadtblick worker` processes
    limits: ImageLimits  # what one uploaded or batch image may be

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        database = Database(settings.resolved_database_url())
        config = IngestConfig(
            camera=camera_model(settings),
            rules=grading_rules(settings),
            dedup_radius_m=settings.dedup_radius_m,
            categories=damage_categories(settings),
            timezone=ZoneInfo(settings.timezone),
        )
        privacy = privacy_guard(settings)
        registry = ModelRegistry.discover(settings.weights_dirs)
        ingestor = FrameIngestor(database, photo_store(settings, "frames"), config, privacy)
        limits = image_limits(settings)
        return cls(
            settings=settings,
            database=database,
            registry=registry,
            privacy=privacy,
            ingestor=ingestor,
            lost_item_photos=photo_store(settings, "lost_items"),
            batches=BatchProcessor(database, ingestor, registry, limits),
            queue=None if database.is_sqlite else FrameQueue(database.url),
            limits=limits,
        )

    def session_config(self) -> SessionConfig:
        return SessionConfig(
            intra_op_threads=self.settings.session_threads, lone_run_threads=self.settings.lone_run_threads
        )

    def load_models(self) -> None:
        """Create the ONNX Runtime sessions, then the anonymiser over the installed sources."""
        session_config = self.session_config()
        self.registry.load_all(session_config)
        self.load_anonymiser(session_config)

    def load_anonymiser(self, session_config: SessionConfig) -> None:
        """Says loudly when images cannot be stored."""
        settings = self.settings
        loaded = {name: e.detector for name, e in self.registry.entries.items() if e.detector is not None}
        self.privacy.anonymiser = load_anonymiser(
            loaded,
            anonymise_config(settings),
            settings.anonymise_sources,
            settings.anonymise_persons,
            session_config,
        )
        try:
            anonymiser = self.privacy.usable()
            log.info("anonymiser: %s", ", ".join(s.name for s in anonymiser.sources))
        except AnonymiserUnavailable as exc:
            if settings.require_anonymisation:
                log.warning("storing images is refused: %s", exc)
            else:
                log.warning("images are stored without complete anonymisation (explicitly allowed): %s", exc)

    def retention_rules(self) -> list[RetentionRule]:
        staged = StagedFrameRule(self.batches, timedelta(hours=self.settings.staged_frames_max_hours))
        rules = standard_rules(self.ingestor.images, self.settings.retention_frames_days, self.lost_item_photos)
        return [*rules, staged]
