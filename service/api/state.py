"""What the running service holds: settings, detectors, the inference worker pool, metrics, storage."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar
from zoneinfo import ZoneInfo

from service.api.metrics import Metrics
from service.config import Settings
from service.gis.batch import BatchRunner
from service.gis.ingest import FrameIngestor, IngestConfig
from service.inference import SessionConfig
from service.registry.registry import ModelRegistry
from service.storage import Database
from service.storage.frame_images import FrameImageStore
from service.storage.jobs import JobRepository

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class ServiceState:
    settings: Settings
    registry: ModelRegistry
    metrics: Metrics
    executor: ThreadPoolExecutor
    database: Database
    ingestor: FrameIngestor
    batches: BatchRunner
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
        executor = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="inference")
        ingestor = FrameIngestor(database, FrameImageStore(settings.data_dir / "frames"), config)
        return cls(
            settings=settings,
            registry=ModelRegistry.discover(settings.weights_dirs),
            metrics=Metrics(),
            executor=executor,
            database=database,
            ingestor=ingestor,
            batches=BatchRunner(database, ingestor, executor, settings.image_limits()),
        )

    def open_storage(self) -> None:
        """Bring the schema up to date; jobs a previous process left unfinished are marked failed."""
        self.database.upgrade()
        with self.database.transaction() as session:
            stale = JobRepository(session).fail_interrupted()
        if stale:
            log.warning("marked %d interrupted job(s) as failed", stale)

    def load_models(self) -> None:
        """Create the ONNX Runtime sessions; readiness flips once every detector was tried."""
        self.registry.load_all(SessionConfig(intra_op_threads=self.settings.intra_op_threads))
        self.metrics.models_loaded.set(sum(e.ready for e in self.registry.entries.values()))
        self.ready.set()

    async def run_inference(self, fn: Callable[[], T]) -> T:
        """Run CPU-bound work in the worker pool so the event loop keeps serving."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn)
