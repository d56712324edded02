"""A batch worker (the code of `stadtblick worker`) on a thread of the test process, for the API
tests that run on PostgreSQL: there the service only queues the frames of a batch."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

from service.runtime import Runtime


@contextlib.contextmanager
def worker_thread(runtime: Runtime, stalled_s: float = 30.0) -> Iterator[None]:
    """Work the queue with the runtime's loaded detectors until the block ends (nothing on SQLite)."""
    if runtime.queue is None:
        yield
        return
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, asyncio.Task] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        holder["task"] = loop.create_task(runtime.queue.work(runtime.batches, 1, stalled_s))
        started.set()
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(holder["task"])
        loop.close()

    thread = threading.Thread(target=run, name="test-worker", daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield
    finally:
        loop.call_soon_threadsafe(holder["task"].cancel)
        thread.join(30)
