"""Per-key rate limit: a token bucket per API key, `per_minute` requests on average and up to
`burst` at once (0 per minute: unlimited).

Chosen at start-up by the database: with PostgreSQL every replica takes its tokens from the same
buckets in the database (`SharedRateLimiter`), so a key's budget is one budget however many
replicas serve it; with SQLite (one process) the buckets are in memory (`MemoryRateLimiter`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import Counter
from sqlalchemy.exc import SQLAlchemyError

from service.storage import Database
from service.storage.rate_limits import RateLimitRepository

log = logging.getLogger(__name__)


class RateLimiter(Protocol):
    def retry_after(self, key: str) -> int | None:
        """Take one token for `key`: None if granted, else the whole seconds until one is available."""


def create_rate_limiter(per_minute: int, burst: int, database: Database, unavailable: Counter) -> RateLimiter:
    """The shared buckets on PostgreSQL, buckets in memory on SQLite."""
    if database.is_sqlite:
        return MemoryRateLimiter(per_minute, burst)
    return SharedRateLimiter(per_minute, burst, database, unavailable)


def _wait_s(tokens: float, per_second: float) -> int:
    """Whole seconds until a bucket holding `tokens` (< 1) has one token."""
    return max(1, math.ceil((1 - tokens) / per_second))


@dataclass
class _Bucket:
    tokens: float
    updated: float


class MemoryRateLimiter:
    """Buckets in this process's memory: one process counts alone."""

    def __init__(self, per_minute: int, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = per_minute / 60.0
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}  # one per key: bounded by the number of keys
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> int | None:
        if self.rate <= 0:
            return None
        now = self.clock()
        with self._lock:
            bucket = self._buckets.setdefault(key, _Bucket(float(self.burst), now))
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return None
            return _wait_s(bucket.tokens, self.rate)


class SharedRateLimiter:
    """Buckets in PostgreSQL, one statement per request (service.storage.rate_limits).

    Fails open: when the statement fails (connection lost, table missing) the request goes through
    unlimited, counted in `unavailable`, with one WARNING per outage; a limiter must not turn a
    working service into one that answers 500 to everyone.
    """

    def __init__(self, per_minute: int, burst: int, database: Database, unavailable: Counter):
        self.rate = per_minute / 60.0
        self.burst = burst
        self.database = database
        self.unavailable = unavailable
        self._failing = False

    def retry_after(self, key: str) -> int | None:
        if self.rate <= 0:
            return None
        try:
            with self.database.transaction() as session:
                take = RateLimitRepository(session).take(key, self.rate, self.burst)
        except SQLAlchemyError as exc:
            self.unavailable.inc()
            if not self._failing:
                log.warning("rate limit not applied: the shared buckets cannot be read (%s)", type(exc).__name__)
            self._failing = True
            return None
        if self._failing:
            log.info("rate limit applied again: the shared buckets can be read")
            self._failing = False
        return None if take.granted else _wait_s(take.tokens, self.rate)
