"""Faults: broken or missing model files, a database that is unreachable, locked or read-only,
a full disk, a process killed mid-write. The service says what is wrong (readiness 503, JSON
503/507) and leaves neither half-written records nor files behind."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers import TINY_INPUT, jpeg_bytes, synthetic_photo, write_detector
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.exc import OperationalError

from service.api.app import create_app
from service.config import Settings
from service.gis import batch as batch_module
from service.storage import database as database_module
from service.storage import frame_images
from service.storage.jobs import StagedFrames
from service.storage.models import AuditEvent, DetectionRecord, Frame

TESTS = Path(__file__).resolve().parents[1]
JPEG = {"Content-Type": "image/jpeg"}


def _app(weights: Path, data: Path, url: str = "") -> TestClient:
    settings = Settings(weights_dir=str(weights), data_dir=data, database_url=url, inference_workers=1)
    return TestClient(create_app(settings, load_in_background=False))


def _store(client: TestClient, seed: int):
    photo = jpeg_bytes(synthetic_photo(120, 160, seed=seed))
    return client.post("/v1/detect?store=true&drive_id=f1&lat=52.5&lon=13.4", content=photo, headers=JPEG)


def _nothing_stored(client: TestClient) -> None:
    """No frame, detection or audit record, and no file (not even a temporary one)."""
    with client.app.state.service.database.session() as session:
        for model in (Frame, DetectionRecord, AuditEvent):
            assert session.scalar(select(func.count()).select_from(model)) == 0, model.__name__
    frames = client.app.state.service.settings.data_dir / "frames"
    assert not [p for p in frames.rglob("*") if p.is_file()] if frames.exists() else True


def _assert_fault(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize("damage", ["missing", "truncated", "zeros"])
def test_broken_model_file_is_named_and_others_keep_serving(
    tmp_path: Path, tiny_yolo11_onnx: Path, damage: str
) -> None:
    names = [f"c{i}" for i in range(80)]
    write_detector(tmp_path / "w", tiny_yolo11_onnx, "good", names, TINY_INPUT)
    model = write_detector(tmp_path / "w", tiny_yolo11_onnx, "bad", names, TINY_INPUT) / "model.onnx"
    if damage == "missing":
        model.unlink()
    else:
        model.write_bytes(model.read_bytes()[: model.stat().st_size // 2] if damage == "truncated" else b"\0" * 100)
    with _app(tmp_path / "w", tmp_path / "data") as client:
        assert client.get("/readyz").status_code == 200  # every model was tried; the broken one is reported
        status = {m["name"]: m for m in client.get("/v1/models").json()}
        assert status["bad"]["status"] == "unavailable" and "model.onnx" in status["bad"]["error"]
        photo = jpeg_bytes(synthetic_photo())
        response = client.post("/v1/detect", params={"detectors": "bad"}, content=photo, headers=JPEG)
        _assert_fault(response, 503, "model_unavailable")
        assert str(model) in response.json()["error"]["message"]
        assert client.post("/v1/detect", params={"detectors": "good"}, content=photo, headers=JPEG).status_code == 200


def _break_sqlite(client: TestClient, url: str) -> None:
    client.app.state.service.database.dispose()
    path = Path(url.removeprefix("sqlite:///"))
    for leftover in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    path.write_bytes(b"this is not a database" * 100)


def _break_postgresql(client: TestClient, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')  # a generated test name
    admin.dispose()


def test_unavailable_database_fails_readiness_and_requests(tmp_path: Path, database_url: str) -> None:
    (tmp_path / "w").mkdir()
    with _app(tmp_path / "w", tmp_path / "data", database_url) as client:
        assert client.get("/readyz").status_code == 200
        (_break_sqlite if database_url.startswith("sqlite") else _break_postgresql)(client, database_url)
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "database_unavailable"
        assert "database" in ready.json()["database"]
        assert client.get("/healthz").status_code == 200  # the process itself is fine
        response = client.get("/ogc/collections/road_damage/items")
        _assert_fault(response, 503, "database_unavailable")
        assert response.headers["retry-after"]


@pytest.fixture
def sqlite_client(tmp_path: Path, tiny_weights: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setattr(database_module, "_SQLITE_BUSY_TIMEOUT_MS", 200)  # wait 0.2 s for a lock, not 30 s
    with _app(tiny_weights, tmp_path / "data", f"sqlite:///{tmp_path / 'db.sqlite'}") as client:
        yield client


def test_locked_database_answers_503_and_stores_nothing(sqlite_client: TestClient, tmp_path: Path) -> None:
    other_writer = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    other_writer.execute("BEGIN IMMEDIATE")  # holds the single SQLite writer slot
    try:
        response = _store(sqlite_client, seed=1)
        _assert_fault(response, 503, "database_unavailable")
        assert "locked" in response.json()["error"]["message"] and response.headers["retry-after"]
    finally:
        other_writer.execute("ROLLBACK")
        other_writer.close()
    _nothing_stored(sqlite_client)
    assert _store(sqlite_client, seed=1).status_code == 200  # works again once the lock is gone


def _read_only_sqlite(client: TestClient) -> Callable[[], None]:
    engine = client.app.state.service.database.engine

    def query_only(dbapi_connection, _record) -> None:
        dbapi_connection.execute("PRAGMA query_only = ON")

    event.listen(engine, "connect", query_only)
    engine.dispose()
    return lambda: (event.remove(engine, "connect", query_only), engine.dispose())


def _read_only_postgresql(client: TestClient) -> Callable[[], None]:
    engine = client.app.state.service.database.engine
    name = engine.url.database

    def alter(read_only: str) -> None:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("SET default_transaction_read_only = off")  # this session may alter
            connection.exec_driver_sql(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {read_only}')
        engine.dispose()

    alter("on")
    return lambda: alter("off")


def test_read_only_database_answers_503_and_stores_nothing(
    tmp_path: Path, tiny_weights: Path, database_url: str
) -> None:
    with _app(tiny_weights, tmp_path / "data", database_url) as client:
        undo = (_read_only_sqlite if database_url.startswith("sqlite") else _read_only_postgresql)(client)
        try:
            response = _store(client, seed=2)
            _assert_fault(response, 503, "database_unavailable")
            assert "read-only" in response.json()["error"]["message"]
            assert client.get("/ogc/collections/road_damage/items").status_code == 200  # reads still work
        finally:
            undo()
        _nothing_stored(client)
        assert _store(client, seed=2).status_code == 200


class _FailingFile:
    """Stands in for the temporary image file: every write fails like a full (or read-only) disk."""

    def __init__(self, fd: int, error: int):
        self.fd, self.error = fd, error

    def __enter__(self) -> _FailingFile:
        return self

    def __exit__(self, *_: object) -> None:
        os.close(self.fd)

    def write(self, _: bytes) -> int:
        raise OSError(self.error, os.strerror(self.error))


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [(errno.ENOSPC, 507, "insufficient_storage"), (errno.EROFS, 503, "storage_unavailable")],
)
def test_failed_image_write_rolls_everything_back(
    sqlite_client: TestClient, monkeypatch: pytest.MonkeyPatch, error: int, status: int, code: str
) -> None:
    monkeypatch.setattr(frame_images.os, "fdopen", lambda fd, _mode: _FailingFile(fd, error))
    _assert_fault(_store(sqlite_client, seed=3), status, code)
    monkeypatch.undo()
    _nothing_stored(sqlite_client)
    files = [("files", (f"{n}.jpg", jpeg_bytes(synthetic_photo(120, 160, seed=n)), "image/jpeg")) for n in (4, 5, 6)]
    monkeypatch.setattr(frame_images.os, "fdopen", lambda fd, _mode: _FailingFile(fd, error))
    job = sqlite_client.post("/v1/frames/batch", data={"drive_id": "full"}, files=files).json()["job_id"]
    state = _finished_job(sqlite_client, job)
    monkeypatch.undo()
    # The job says so, names the frame and counts the ones it did not try; nothing half-stored remains.
    assert state["status"] == "failed" and state["processed"] == 1 and state["failed"] == 3, state
    assert (
        state["errors"][0].startswith("4.jpg: ") and "2 frame(s) after 4.jpg were not processed" in state["errors"][1]
    )
    _nothing_stored(sqlite_client)


def _finished_job(client: TestClient, job_id: str, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while (state := client.get(f"/v1/jobs/{job_id}").json())["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, state
        time.sleep(0.05)
    return state


def test_a_frame_whose_outcome_cannot_be_written_is_processed_again_and_counted_once(
    sqlite_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk under the database: a frame is stored but its outcome cannot be written, for a
    while. The frame is processed again until it can: the job finishes with every frame counted
    once, and the frame stored and its detections kept once."""
    refusals = {"left": 3}
    settle = StagedFrames.settle

    def full_disk(self: StagedFrames, *args: object) -> int:
        if refusals["left"] > 0:
            refusals["left"] -= 1
            raise OperationalError("UPDATE staged_frames", {}, sqlite3.OperationalError("database or disk is full"))
        return settle(self, *args)

    monkeypatch.setattr(StagedFrames, "settle", full_disk)
    monkeypatch.setattr(batch_module, "_RETRY_S", (0.1,))
    files = [("files", (f"{n}.jpg", jpeg_bytes(synthetic_photo(120, 160, seed=n)), "image/jpeg")) for n in (7, 8)]
    files.append(("files", ("broken.jpg", b"\xff\xd8\xff broken", "image/jpeg")))
    job = sqlite_client.post("/v1/frames/batch", data={"drive_id": "full-db"}, files=files).json()["job_id"]
    state = _finished_job(sqlite_client, job)
    assert refusals["left"] == 0
    assert state["status"] == "done" and state["processed"] == 3 and state["failed"] == 1, state
    assert state["errors"] == ["broken.jpg: The JPEG image is damaged or truncated."]
    with sqlite_client.app.state.service.database.session() as session:
        assert session.scalar(select(func.count()).select_from(Frame)) == 2
        stored = session.scalar(select(func.count()).select_from(DetectionRecord))
    found = [sqlite_client.post("/v1/detect", content=f[1][1], headers=JPEG).json()["detections"] for f in files[:2]]
    assert stored == sum(map(len, found)), "the detections of a frame processed twice are stored once"


def test_deleted_or_replaced_database_file_refuses_writes(tmp_path: Path, tiny_weights: Path) -> None:
    """An open SQLite connection would keep writing into the unlinked file, and every write would
    be gone at the next start: the service notices and answers 503 instead."""
    path = tmp_path / "db.sqlite"
    with _app(tiny_weights, tmp_path / "data", f"sqlite:///{path}") as client:
        assert _store(client, seed=11).status_code == 200
        with sqlite3.connect(path) as backup:  # the operator's copy, taken properly
            backup.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        kept = path.read_bytes()
        frames = sorted((tmp_path / "data" / "frames").rglob("*.jpg"))
        for damage in ("deleted", "replaced"):
            path.unlink(missing_ok=True)
            if damage == "replaced":
                path.write_bytes(kept)  # a restored copy is another file: the connections do not see it
            response = _store(client, seed=12)
            _assert_fault(response, 503, "database_unavailable")
            assert "deleted or replaced" in response.json()["error"]["message"]
            ready = client.get("/readyz")
            assert ready.status_code == 503 and "deleted or replaced" in ready.json()["database"]
            assert sorted((tmp_path / "data" / "frames").rglob("*.jpg")) == frames, "no orphaned image"
    with _app(tiny_weights, tmp_path / "data", f"sqlite:///{path}") as client:  # restarted on the restored copy
        assert client.get("/readyz").status_code == 200
        with client.app.state.service.database.session() as session:
            assert session.scalar(select(func.count()).select_from(Frame)) == 1


_KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from zoneinfo import ZoneInfo
    from gis_helpers import CAMERA, frame_run
    from service.config import Settings
    from service.gis.ingest import FrameContext, FrameIngestor, IngestConfig
    from service.privacy import PrivacyGuard
    from service.runtime import damage_categories, grading_rules
    from service.storage import Database, frame_images

    db = Database(sys.argv[1])
    db.upgrade()
    settings = Settings()
    config = IngestConfig(CAMERA, grading_rules(settings), 5.0, damage_categories(settings), ZoneInfo("UTC"))
    store = frame_images.DirectoryStore(Path(sys.argv[2]))
    ingestor = FrameIngestor(db, store, config, PrivacyGuard(required=False))
    # The power goes out after the image bytes are written and synced, before they get their final name.
    frame_images.os.link = lambda *_: os.kill(os.getpid(), signal.SIGKILL)
    ingestor.ingest(frame_run(1, []), FrameContext("crash", lat=52.5, lon=13.4))
    """
)


def test_process_killed_between_write_and_final_name(tmp_path: Path, tiny_weights: Path) -> None:
    url, frames = f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "data" / "frames"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent)])}
    result = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, url, str(frames)], env=env, capture_output=True, timeout=120, check=False
    )
    assert result.returncode == -9, result.stderr.decode()[-2000:]
    leftovers = [p for p in frames.rglob("*") if p.is_file()]
    assert leftovers and all(p.name.startswith(".incoming-") for p in leftovers)  # no file under a final name
    for p in leftovers:  # as if the crash was a while ago
        os.utime(p, (time.time() - 7200, time.time() - 7200))
    with _app(tiny_weights, tmp_path / "data", url) as client:  # the next start
        with client.app.state.service.database.session() as session:
            assert session.scalar(select(func.count()).select_from(Frame)) == 0  # the transaction rolled back
        assert not [p for p in frames.rglob("*") if p.is_file()]  # and the temporary file was swept
