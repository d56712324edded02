"""`stadtblick worker`: process the frames of batch jobs from the queue in PostgreSQL.

Run any number of them beside the API replicas, with the same settings (database, data folder,
weights, anonymisation); each loads the detectors and the anonymiser like the service does.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from service.config import Settings
from service.runtime import Runtime


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="process batch jobs from the queue (PostgreSQL; docs/scaling.md)")
    p.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="frames at once (default STADTBLICK_WORKER_CONCURRENCY, else STADTBLICK_INFERENCE_WORKERS, else cores)",
    )
    p.add_argument("--log-level", default="info")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    runtime = Runtime.create(settings)
    if runtime.queue is None:
        print(
            "stadtblick worker needs PostgreSQL (STADTBLICK_DATABASE_URL=postgresql+psycopg://...); "
            "with SQLite, `stadtblick serve` processes batch jobs itself",
            file=sys.stderr,
        )
        return 2
    runtime.database.upgrade()
    runtime.load_models()
    # Like the service's inference pool: `workers` frames at once, the cores shared out among them.
    concurrency = args.concurrency or settings.worker_concurrency or settings.workers
    logging.getLogger(__name__).info("worker ready: %d frame(s) at once", concurrency)
    asyncio.run(runtime.queue.work(runtime.batches, concurrency, settings.worker_stalled_s))
    return 0
