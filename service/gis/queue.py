"""Batch frames on a task queue in PostgreSQL (procrastinate), for any number of API replicas and
`stadtblick worker` processes (docs/scaling.md).

One task per staged frame, so the workers share a batch. The API defers the tasks within the
transaction that stages the frames: the job, its frames and their tasks are committed together.
A worker sends a heartbeat every `stalled_s / 3` seconds; the running tasks of a worker silent
for `stalled_s` (killed, its machine gone) are put back in the queue by the other workers, and
processing a frame twice stores and counts it once (`BatchProcessor`).
"""

from __future__ import annotations

import asyncio
import logging

from procrastinate import App, JobContext, PsycopgConnector, RetryStrategy, SyncPsycopgConnector
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from service.gis.batch import BatchProcessor

log = logging.getLogger(__name__)

TASK = "stadtblick.process_frame"
#: A frame whose outcome cannot be written (the database unreachable) is tried again for about an hour.
RETRY = RetryStrategy(max_attempts=30, wait=10, linear_wait=10)


class FrameQueue:
    def __init__(self, database_url: URL):
        conninfo = database_url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.app = App(connector=PsycopgConnector(conninfo=conninfo))  # the worker's: a pool, heartbeats
        # Deferring only ever runs on the caller's connection: a connector that never opens a pool.
        self._deferrer = App(connector=SyncPsycopgConnector(conninfo=conninfo))
        for app in (self.app, self._deferrer):
            app.task(name=TASK, pass_context=True, retry=RETRY)(_process_frame)

    def defer(self, session: Session, job_id: str, seqs: list[int]) -> None:
        """Queue the frames' tasks within the session's transaction."""
        connection = session.connection().connection.driver_connection
        task = self._deferrer.tasks[TASK].configure(connection=connection)
        task.batch_defer(*({"job_id": job_id, "seq": seq} for seq in seqs))

    async def work(self, processor: BatchProcessor, concurrency: int, stalled_s: float) -> None:
        """Process frames until stopped (SIGINT/SIGTERM: the running frames are finished first)."""
        async with self.app.open_async():
            rescue = asyncio.create_task(self._retry_stalled(stalled_s), name="retry-stalled")
            try:
                await self.app.run_worker_async(
                    concurrency=concurrency,
                    additional_context={"processor": processor},
                    update_heartbeat_interval=stalled_s / 3,
                    stalled_worker_timeout=stalled_s,
                    delete_jobs="successful",
                )
            finally:
                rescue.cancel()

    async def _retry_stalled(self, stalled_s: float) -> None:
        """Put the tasks of workers whose heartbeat stopped back in the queue."""
        manager = self.app.job_manager
        while True:
            await asyncio.sleep(stalled_s / 3)
            try:
                stalled = await manager.get_stalled_jobs(task_name=TASK, seconds_since_heartbeat=stalled_s)
            except Exception as exc:  # the database away for a moment: the next round looks again
                log.warning("looking for stalled tasks failed: %s", exc)
                continue
            for job in stalled:
                try:
                    await manager.retry_job(job)
                    log.warning("task %s (%s) of a stalled worker is queued again", job.id, job.task_kwargs)
                except Exception as exc:  # another worker took it up first
                    log.info("task %s not queued again: %s", job.id, exc)


def _process_frame(context: JobContext, job_id: str, seq: int) -> None:
    processor: BatchProcessor = context.additional_context["processor"]
    processor.process(job_id, seq)
