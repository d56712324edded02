"""What every process that detects and stores frames builds from the settings: the API replicas
(`stadtblick serve`) and the batch workers (`stadtblick worker`) alike, so both store a frame
with the same detectors, anonymiser, grading and storage (docs/scaling.md)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from service.config import Settings
from service.gis.batch import BatchProcessor, StagedFrameRule
from service.gis.ingest import FrameIngestor, IngestConfig
from service.gis.queue import FrameQueue
from service.inference import SessionConfig
from service.privacy import AnonymiserUnavailable, PrivacyGuard
from service.privacy.sources import load_anonymiser
from service.registry.registry import ModelRegistry
from service.retention_rules import standard_rules
from service.storage import Database
from service.storage.frame_images import FrameStore
from service.storage.retention import RetentionRule

log = logging.getLogger(__name__)


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

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        database = Database(settings.resolved_database_url())
        config = IngestConfig(
            camera=settings.camera_model(),
            rules=settings.grading_rules(),
            dedup_radius_m=settings.dedup_radius_m,
            categories=settings.damage_categories(),
            timezone=ZoneInfo(settings.timezone),
        )
        privacy = settings.privacy_guard()
        registry = ModelRegistry.discover(settings.weights_dirs)
        ingestor = FrameIngestor(database, settings.photo_store("frames"), config, privacy)
        return cls(
            settings=settings,
            database=database,
            registry=registry,
            privacy=privacy,
            ingestor=ingestor,
            lost_item_photos=settings.photo_store("lost_items"),
            batches=BatchProcessor(database, ingestor, registry, settings.image_limits()),
            queue=None if database.is_sqlite else FrameQueue(database.url),
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
            settings.anonymise_config(),
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
