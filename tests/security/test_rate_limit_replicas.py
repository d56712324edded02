"""Rate limits across API replicas: on PostgreSQL every replica takes its tokens from one bucket
per key in the database (service.storage.rate_limits); on SQLite the buckets are in memory."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from auth_helpers import bearer, create_key
from db_backends import new_database_url
from prometheus_client import Counter
from sqlalchemy import text

from service.api.rate_limit import MemoryRateLimiter, SharedRateLimiter, create_rate_limiter
from service.auth import Role
from service.storage import Database


@pytest.fixture
def shared_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated PostgreSQL database, as API replicas share it."""
    url = new_database_url(request, "postgresql", tmp_path)
    Database(url).upgrade()
    return url


def replica_limiter(url: str, per_minute: int, burst: int) -> SharedRateLimiter:
    """The limiter of one more replica: its own engine and connections."""
    return SharedRateLimiter(per_minute, burst, Database(url), Counter("unavailable", "-", registry=None))


def test_replicas_share_one_budget_per_key(shared_database: str) -> None:
    a, b = (replica_limiter(shared_database, per_minute=6, burst=3) for _ in range(2))  # a token per 10 s
    assert [a.retry_after("k1"), b.retry_after("k1"), a.retry_after("k1")] == [None, None, None]
    assert 1 <= b.retry_after("k1") <= 10 and 1 <= a.retry_after("k1") <= 10  # empty on either replica
    assert b.retry_after("k2") is None  # buckets are per key
    assert replica_limiter(shared_database, per_minute=0, burst=1).retry_after("k1") is None  # 0: unlimited


def test_shared_bucket_refills_with_the_database_clock(shared_database: str) -> None:
    a, b = (replica_limiter(shared_database, per_minute=60, burst=1) for _ in range(2))  # a token per second
    assert a.retry_after("warm-a") is None and b.retry_after("warm-b") is None  # connections open
    assert a.retry_after("k") is None and b.retry_after("k") == 1
    time.sleep(1.1)
    assert b.retry_after("k") is None and a.retry_after("k") == 1


def test_concurrent_requests_on_two_replicas_take_exactly_the_burst(shared_database: str) -> None:
    """64 requests at once through two replicas, 8 threads each: a read-then-write count would hand
    out more than the 20 tokens; the upsert hands out exactly 20 (the rate adds one a minute)."""
    replicas = [replica_limiter(shared_database, per_minute=1, burst=20) for _ in range(2)]
    start = threading.Barrier(16)

    def four_requests(limiter: SharedRateLimiter) -> list[int | None]:
        start.wait()
        return [limiter.retry_after("k") for _ in range(4)]

    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(four_requests, replicas[i % 2]) for i in range(16)]
        answers = [answer for future in futures for answer in future.result()]
    assert answers.count(None) == 20 and len(answers) == 64


def test_the_database_chooses_the_limiter(database_url: str) -> None:
    database = Database(database_url)
    limiter = create_rate_limiter(60, 3, database, Counter("unavailable", "-", registry=None))
    assert isinstance(limiter, MemoryRateLimiter if database.is_sqlite else SharedRateLimiter)


def test_two_replicas_answer_429_from_one_budget(secure_client, shared_database: str) -> None:
    settings = {"database_url": shared_database, "rate_limit_per_minute": 6, "rate_limit_burst": 3}
    with secure_client(**settings) as a, secure_client(**settings) as b:
        key = bearer(create_key(a, Role.GIS, "shared"))
        assert [c.get("/v1/models", headers=key).status_code for c in (a, b, a)] == [200, 200, 200]
        limited = b.get("/v1/models", headers=key)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert a.get("/v1/models", headers=key).status_code == 429


def test_unreadable_shared_buckets_let_requests_through(
    secure_client, shared_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Fail open: the limiter's table gone (a broken migration), requests are served, counted, and
    one WARNING says so; the limit applies again once the buckets can be read."""
    with secure_client(database_url=shared_database, rate_limit_per_minute=6, rate_limit_burst=1) as client:
        key = bearer(create_key(client, Role.GIS, "k"))
        with Database(shared_database).transaction() as session:
            session.execute(text("ALTER TABLE rate_limit_buckets RENAME TO moved"))
        assert [client.get("/v1/models", headers=key).status_code for _ in range(3)] == [200, 200, 200]
        assert "stadtblick_rate_limit_unavailable_total 3.0" in client.get("/metrics").text
        assert [r.levelname for r in caplog.records if "rate limit not applied" in r.message] == ["WARNING"]
        with Database(shared_database).transaction() as session:
            session.execute(text("ALTER TABLE moved RENAME TO rate_limit_buckets"))
        assert [client.get("/v1/models", headers=key).status_code for _ in range(2)] == [200, 429]
