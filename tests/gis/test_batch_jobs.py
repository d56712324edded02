"""Durable batch jobs without HTTP: staging, a frame processed again after a crash, retention of
staged originals, and (SQLite) jobs a stopped service left unfinished going on at the next start."""

from __future__ import annotations

import io
import sqlite3
import threading
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers import jpeg_bytes, synthetic_photo
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from service.api.app import create_app
from service.auth.keys import LOCAL_DEVELOPER
from service.config import Settings
from service.gis.batch import BatchLimits, BatchParams, LocalRunner, collect_frames
from service.gis.ingest import FrameIngestor
from service.pipeline import ParamOverrides
from service.runtime import Runtime
from service.storage import audit
from service.storage.database import hold_lock
from service.storage.jobs import StagedFrames
from service.storage.models import AuditEvent, DetectionRecord, Frame, Job, StagedFrame, utcnow
from service.storage.retention import RETENTION, run_retention

LIMITS = BatchLimits(max_frames=10, max_frame_bytes=200_000)
PARAMS = BatchParams("d1", ["road_damage"], ParamOverrides(conf=0.05, max_det=3), uploaded_by=LOCAL_DEVELOPER)


def photos(n: int, seed: int = 0) -> list[tuple[str, bytes]]:
    return [(f"{i:03d}.jpg", jpeg_bytes(synthetic_photo(120, 160, seed=seed + i))) for i in range(n)]


def settings_for(url: str, weights: Path, data: Path) -> Settings:
    return Settings(weights_dir=str(weights), data_dir=data, database_url=url, inference_workers=1)


@pytest.fixture
def runtime(database_url: str, road_weights: Path, tmp_path: Path) -> Iterator[Runtime]:
    """What a worker holds; nothing processes the staged frames unless the test says so."""
    runtime = Runtime.create(settings_for(database_url, road_weights, tmp_path / "data"))
    runtime.database.upgrade()
    runtime.load_models()
    yield runtime
    runtime.database.dispose()


def job_of(runtime: Runtime, job_id: str) -> Job:
    with runtime.database.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def count(runtime: Runtime, model: type) -> int:
    with runtime.database.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_staging_keeps_every_frame_and_settles_unreadable_members_at_once(runtime: Runtime) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.jpg", b"x" * (LIMITS.max_frame_bytes + 1))  # over the cap: unreadable, not staged
    frames = collect_frames(photos(2), [archive.getvalue()], LIMITS)
    job_id = runtime.batches.stage(frames, PARAMS)
    job = job_of(runtime, job_id)
    assert (job.status, job.total, job.processed, job.failed) == ("queued", 3, 1, 1)
    assert job.errors == [f"a.jpg: over {LIMITS.max_frame_bytes} bytes"]
    assert job.params["detectors"] == ["road_damage"] and BatchParams.of(job) == PARAMS
    with runtime.database.session() as session:
        rows = {r.seq: (r.name, r.data, r.outcome) for r in session.scalars(select(StagedFrame))}
    (first, a), (second, b) = photos(2)
    assert rows == {0: (first, a, None), 1: (second, b, None), 2: ("a.jpg", None, "failed")}


def test_a_frame_processed_again_after_a_crash_is_stored_and_counted_once(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker stored the frame and died before settling it: its task runs again elsewhere."""
    job_id = runtime.batches.stage(collect_frames(photos(2), [], LIMITS), PARAMS)
    settle = StagedFrames.settle

    def crash(*_: object) -> int:
        raise KeyboardInterrupt("the worker is killed here")

    monkeypatch.setattr(StagedFrames, "settle", crash)
    with pytest.raises(KeyboardInterrupt):
        runtime.batches.process(job_id, 0)
    monkeypatch.setattr(StagedFrames, "settle", settle)
    assert count(runtime, Frame) == 1 and job_of(runtime, job_id).processed == 0
    detections = count(runtime, DetectionRecord)
    for _ in range(2):  # the retry, and a late duplicate of it
        runtime.batches.process(job_id, 0)
    assert count(runtime, Frame) == 1 and count(runtime, DetectionRecord) == detections
    job = job_of(runtime, job_id)
    assert (job.status, job.processed, job.failed) == ("running", 1, 0)
    runtime.batches.process(job_id, 1)
    job = job_of(runtime, job_id)
    assert (job.status, job.processed, job.failed, job.errors) == ("done", 2, 0, [])
    assert count(runtime, Frame) == 2 and count(runtime, StagedFrame) == 0, "the staged rows go with the job"


def test_staged_originals_are_deleted_after_the_bounded_time_and_their_job_fails(runtime: Runtime) -> None:
    job_id = runtime.batches.stage(collect_frames(photos(3), [], LIMITS), PARAMS)
    runtime.batches.process(job_id, 0)
    rules = runtime.retention_rules()
    assert run_retention(runtime.database, rules).deleted["staged_frame"] == 0  # not yet due
    later = utcnow() + timedelta(hours=runtime.settings.staged_frames_max_hours, minutes=1)
    assert run_retention(runtime.database, rules, now=later).deleted["staged_frame"] == 2
    job = job_of(runtime, job_id)
    assert (job.status, job.processed, job.failed) == ("failed", 3, 2)
    assert job.errors == [f"00{i}.jpg: not processed within 24 h; the staged original was deleted" for i in (1, 2)]
    assert count(runtime, StagedFrame) == 0
    with runtime.database.session() as session:
        deleted = session.scalars(select(AuditEvent.target).where(AuditEvent.action == audit.DELETE))
        assert sorted(t.split(":")[0] for t in deleted) == ["staged_frame", "staged_frame"]
    runtime.batches.process(job_id, 1)  # a worker reaching an expired frame late changes nothing
    assert job_of(runtime, job_id).processed == 3 and count(runtime, Frame) == 1


def test_replicas_running_retention_at_once_take_turns(runtime: Runtime) -> None:
    """Every API replica runs the scheduled retention: a run waits while another holds the turn,
    then finds nothing left, so each expired item is deleted and audited once."""
    runtime.batches.stage(collect_frames(photos(3), [], LIMITS), PARAMS)
    later = utcnow() + timedelta(hours=runtime.settings.staged_frames_max_hours, minutes=1)
    rules = runtime.retention_rules()
    with ThreadPoolExecutor(2) as pool:
        with runtime.database.transaction() as session:
            hold_lock(session, "retention")  # another replica's run, mid-way (SQLite: its write slot)
            items = rules[-1].due(session, later, 10)
            waiting = pool.submit(run_retention, runtime.database, rules, later)
            with pytest.raises(FuturesTimeout):
                waiting.result(timeout=1.0)
            rules[-1].delete(session, items, later)
            for item in items:
                audit.record(session, RETENTION, audit.DELETE, item.target)
        assert waiting.result(timeout=60).deleted["staged_frame"] == 0
        reports = list(pool.map(lambda _: run_retention(runtime.database, rules, later), range(2)))
    assert [r.deleted["staged_frame"] for r in reports] == [0, 0] and count(runtime, StagedFrame) == 0
    with runtime.database.session() as session:
        deleted = list(session.scalars(select(AuditEvent.target).where(AuditEvent.action == audit.DELETE)))
    assert len(deleted) == 3


def test_sqlite_service_resumes_unfinished_jobs_at_start(road_weights: Path, tmp_path: Path) -> None:
    """The service stopped (or was killed) after the upload was answered and one frame processed:
    the next start processes the rest, and the original bytes are not left in the database file."""
    db_file = tmp_path / "data" / "stadtblick.db"
    settings = settings_for(f"sqlite:///{db_file}", road_weights, tmp_path / "data")
    frames = photos(3, seed=40)
    first = Runtime.create(settings)
    first.database.upgrade()
    first.load_models()
    job_id = first.batches.stage(collect_frames(frames, [], LIMITS), PARAMS)
    first.batches.process(job_id, 0)
    first.database.dispose()
    with TestClient(create_app(settings, load_in_background=False)) as client:
        deadline = time.monotonic() + 60
        while (job := client.get(f"/v1/jobs/{job_id}").json())["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline, job
            time.sleep(0.05)
        assert job["status"] == "done" and job["processed"] == 3 and job["failed"] == 0, job
    with sqlite3.connect(db_file) as connection:
        assert connection.execute("SELECT count(*) FROM frames").fetchone() == (3,)
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    content = b"".join(p.read_bytes() for p in db_file.parent.glob("stadtblick.db*"))
    assert not any(data[200:1200] in content for _, data in frames), "no staged original left in the file"


def test_a_frame_that_meets_an_unavailable_database_waits_for_it(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unlike a full frame store, a database outage does not end the job: the frame stays staged
    and is processed again (the queue's retry on workers, the runner's back-off in the service)."""
    job_id = runtime.batches.stage(collect_frames(photos(1), [], LIMITS), PARAMS)

    def unreachable(*_: object) -> None:
        raise OperationalError("INSERT INTO frames", {}, sqlite3.OperationalError("unable to open database file"))

    monkeypatch.setattr(FrameIngestor, "ingest", unreachable)
    with pytest.raises(OperationalError):
        runtime.batches.process(job_id, 0)
    job = job_of(runtime, job_id)
    assert (job.status, job.processed, job.errors) == ("queued", 0, [])
    monkeypatch.undo()
    runtime.batches.process(job_id, 0)
    job = job_of(runtime, job_id)
    assert (job.status, job.processed, job.failed) == ("done", 1, 0) and count(runtime, Frame) == 1


def test_a_job_whose_executor_was_shut_down_stops_and_keeps_its_frames(runtime: Runtime) -> None:
    """The service stops while a job thread hands over frames: the thread ends at once instead of
    retrying, and the frames stay staged for the next start."""
    job_id = runtime.batches.stage(collect_frames(photos(2), [], LIMITS), PARAMS)
    executor = ThreadPoolExecutor(max_workers=1)
    executor.shutdown()
    ready = threading.Event()
    ready.set()
    thread = threading.Thread(target=LocalRunner(runtime.batches, executor, ready)._run, args=(job_id,))
    thread.start()
    thread.join(timeout=5)
    assert not thread.is_alive(), "the job thread retried a shut-down executor"
    job = job_of(runtime, job_id)
    assert (job.status, job.processed) == ("queued", 0) and count(runtime, StagedFrame) == 2
