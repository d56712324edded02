"""What the running service holds: settings, detectors, the inference worker pool, metrics, storage."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from service.admission import Admission, Overloaded
from service.api.metrics import Metrics
from service.api.rate_limit import RateLimiter, create_rate_limiter
from service.config import Settings
from service.gis.batch import BatchParams, LocalRunner, PendingFrame
from service.gis.ingest import FrameIngestor
from service.inference.session import RequestExecutor
from service.lost_property.desk import LostPropertyDesk
from service.privacy import PrivacyGuard
from service.registry.registry import ModelRegistry
from service.runtime import Runtime
from service.storage import Database
from service.storage.jobs import JobRepository
from service.storage.retention import RetentionReport, run_retention

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class ServiceState:
    settings: Settings
    runtime: Runtime
    registry: ModelRegistry
    metrics: Metrics
    executor: RequestExecutor
    background: RequestExecutor  # large images and batch frames: fewer workers than `executor`
    database: Database
    ingestor: FrameIngestor
    runner: LocalRunner | None  # SQLite: batch jobs run in this process
    batch_uploads: Admission  # batch uploads being read and staged by this process
    uploads: Admission  # uploads being read or waiting for / running inference
    rate_limiter: RateLimiter
    privacy: PrivacyGuard
    desk: LostPropertyDesk
    ready: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def create(cls, settings: Settings) -> ServiceState:
        runtime = Runtime.create(settings)
        executor = RequestExecutor(max_workers=settings.workers, thread_name_prefix="inference")
        background = RequestExecutor(max_workers=settings.background_workers, thread_name_prefix="background")
        ready = threading.Event()
        metrics = Metrics()
        return cls(
            settings=settings,
            runtime=runtime,
            registry=runtime.registry,
            metrics=metrics,
            executor=executor,
            background=background,
            database=runtime.database,
            ingestor=runtime.ingestor,
            runner=None if runtime.queue else LocalRunner(runtime.batches, background, ready),
            batch_uploads=Admission("batch uploads", settings.max_batch_jobs),
            uploads=Admission("uploads", settings.inference_capacity),
            rate_limiter=create_rate_limiter(
                settings.rate_limit_per_minute,
                settings.rate_limit_burst,
                runtime.database,
                metrics.rate_limit_unavailable,
            ),
            privacy=runtime.privacy,
            desk=LostPropertyDesk(
                runtime.registry,
                runtime.database,
                runtime.lost_item_photos,
                settings.lost_property_detector,
                timedelta(days=settings.lost_item_retention_days),
                runtime.privacy,
            ),
            ready=ready,
        )

    def open_storage(self) -> None:
        """Bring the schema up to date; go on with what a previous process left unfinished (SQLite:
        this process runs the batch jobs; on PostgreSQL the workers do) and clear temporary files."""
        self.database.upgrade()
        if self.runner is not None and (resumed := self.runner.resume()):
            log.warning("resuming %d batch job(s) a previous run left unfinished", resumed)
        leftovers = self.ingestor.images.sweep_incoming()
        if leftovers:
            log.warning("removed %d incomplete image file(s) of an interrupted write", leftovers)

    def load_models(self) -> None:
        """Create the ONNX Runtime sessions; readiness flips once every detector was tried."""
        self.runtime.load_models()
        self.metrics.models_loaded.set(sum(e.ready for e in self.registry.entries.values()))
        self.ready.set()

    def check_batch_capacity(self) -> None:
        """503 `busy` when `max_batch_jobs` jobs are queued or running, counted in the database (all
        replicas), or this process is already reading as many batch uploads."""
        with self.database.session() as session:
            unfinished = JobRepository(session).count_unfinished()
        if unfinished >= self.settings.max_batch_jobs:
            raise Overloaded("batch jobs", self.batch_uploads.retry_after_s)

    def submit_batch(self, frames: list[PendingFrame], params: BatchParams) -> str:
        """Stage the job (and queue its frames' tasks, on PostgreSQL) before the upload is answered."""
        queue = self.runtime.queue
        job_id = self.runtime.batches.stage(frames, params, queue.defer if queue else None)
        if self.runner is not None:
            self.runner.start(job_id)
        return job_id

    def apply_retention(self) -> RetentionReport:
        return run_retention(self.database, self.runtime.retention_rules())

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
