"""What the running service holds: settings, detectors, the inference worker pool, metrics, storage."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from service.admission import Admission
from service.api.metrics import Metrics
from service.api.rate_limit import RateLimiter, create_rate_limiter
from service.config import Settings
from service.gis.batch import BatchRunner
from service.gis.ingest import FrameIngestor, IngestConfig
from service.inference import SessionConfig
from service.inference.session import RequestExecutor
from service.lost_property.desk import LostPropertyDesk
from service.privacy import AnonymiserUnavailable, PrivacyGuard
from service.privacy.sources import load_anonymiser
from service.registry.registry import ModelRegistry
from service.retention_rules import standard_rules
from service.storage import Database
from service.storage.jobs import JobRepository
from service.storage.retention import RetentionReport, run_retention

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class ServiceState:
    settings: Settings
    registry: ModelRegistry
    metrics: Metrics
    executor: RequestExecutor
    background: RequestExecutor  # large images and batch frames: fewer workers than `executor`
    database: Database
    ingestor: FrameIngestor
    batches: BatchRunner
    uploads: Admission  # uploads being read or waiting for / running inference
    rate_limiter: RateLimiter
    privacy: PrivacyGuard
    desk: LostPropertyDesk
    ready: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def create(cls, settings: Settings) -> ServiceState:
        database = Database(settings.resolved_database_url())
        config = IngestConfig(
            camera=settings.camera_model(),
            rules=settings.grading_rules(),
            dedup_radius_m=settings.dedup_radius_m,
            categories=settings.damage_categories(),
            timezone=ZoneInfo(settings.timezone),
        )
        executor = RequestExecutor(max_workers=settings.workers, thread_name_prefix="inference")
        background = RequestExecutor(max_workers=settings.background_workers, thread_name_prefix="background")
        privacy = settings.privacy_guard()
        registry = ModelRegistry.discover(settings.weights_dirs)
        metrics = Metrics()
        ingestor = FrameIngestor(database, settings.photo_store("frames"), config, privacy)
        return cls(
            settings=settings,
            registry=registry,
            metrics=metrics,
            executor=executor,
            background=background,
            database=database,
            ingestor=ingestor,
            batches=BatchRunner(
                database,
                ingestor,
                background,
                settings.image_limits(),
                Admission("batch jobs", settings.max_batch_jobs),
            ),
            uploads=Admission("uploads", settings.inference_capacity),
            rate_limiter=create_rate_limiter(
                settings.rate_limit_per_minute, settings.rate_limit_burst, database, metrics.rate_limit_unavailable
            ),
            privacy=privacy,
            desk=LostPropertyDesk(
                registry,
                database,
                settings.photo_store("lost_items"),
                settings.lost_property_detector,
                timedelta(days=settings.lost_item_retention_days),
                privacy,
            ),
        )

    def open_storage(self) -> None:
        """Bring the schema up to date; clear what a previous process left unfinished (jobs, temporary files)."""
        self.database.upgrade()
        with self.database.transaction() as session:
            drives = JobRepository(session).fail_interrupted()
        if drives:
            log.warning("marked the interrupted jobs of %d drive(s) as failed; grading their frames", len(drives))
        for drive_id in drives:  # what those jobs stored before they stopped is graded now
            if drive_id is not None:
                self.ingestor.regrade(drive_id)
        leftovers = self.ingestor.images.sweep_incoming()
        if leftovers:
            log.warning("removed %d incomplete image file(s) of an interrupted write", leftovers)

    def load_models(self) -> None:
        """Create the ONNX Runtime sessions; readiness flips once every detector was tried."""
        session_config = SessionConfig(
            intra_op_threads=self.settings.session_threads, lone_run_threads=self.settings.lone_run_threads
        )
        self.registry.load_all(session_config)
        self.metrics.models_loaded.set(sum(e.ready for e in self.registry.entries.values()))
        self.load_anonymiser(session_config)
        self.ready.set()

    def load_anonymiser(self, session_config: SessionConfig) -> None:
        """The anonymiser over the installed sources; says loudly when images cannot be stored."""
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

    def apply_retention(self) -> RetentionReport:
        rules = standard_rules(self.ingestor.images, self.settings.retention_frames_days, self.desk.photos)
        return run_retention(self.database, rules)

    async def enforce_retention(self) -> None:
        """The scheduled job: delete expired personal data at start and every `retention_interval_s`."""
        while True:
            try:
                await asyncio.to_thread(self.apply_retention)
            except Exception:  # a locked or unreachable database: the next run deletes what is due
                log.exception("retention run failed; retrying in %.0f s", self.settings.retention_interval_s)
            await asyncio.sleep(self.settings.retention_interval_s)

    async def run_inference(self, fn: Callable[[], T], pixels: int = 0) -> T:
        """Run CPU-bound work in a worker pool so the event loop keeps serving.

        `pixels`: of the image the work is on. Work on large images (whose cost grows with their size)
        runs in the background pool, which is smaller than the pool: a small upload always finds a
        worker, however many large ones arrive. The two pools share the cores, not a queue.
        """
        pool = self.background if pixels > self.settings.large_image_pixels else self.executor
        return await asyncio.get_running_loop().run_in_executor(pool, fn)
