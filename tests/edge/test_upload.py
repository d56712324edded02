"""Store and forward: every event reaches the server exactly once, through cuts, lost answers and restarts."""

from __future__ import annotations

import contextlib
import email
import hashlib
import json
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from edge_helpers import DAMAGES
from gis_helpers import T0, free_port
from server_process import ServerProcess

from service.cli.detect_cmd import load_detectors
from service.cli.main import main
from service.config import Settings
from service.edge.drive import DriveRecorder
from service.edge.gps_logs import load_track
from service.edge.outbox import OUTBOX_FILE, Outbox
from service.edge.uploader import RetryPolicy, ServerTarget, Uploader
from service.edge.video import DistanceSampler, Frame, ReadStats, VideoClock, open_capture, prefetched, read_frames
from service.runtime import camera_model

FAST = RetryPolicy(base_s=0.05, max_s=0.5)


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    policy, rng = RetryPolicy(base_s=1.0, max_s=60.0, jitter=0.5), random.Random(0)
    for attempts, full in [(1, 1.0), (2, 2.0), (3, 4.0), (7, 60.0), (30, 60.0)]:
        delays = [policy.delay(attempts, rng) for _ in range(50)]
        assert all(full * 0.5 <= d <= full for d in delays) and len(set(delays)) > 1


class FlakyServer:
    """Stands in for POST /v1/detect?store=true (idempotent per drive and image sha256) behind a bad link:
    the first request never arrives, the second is stored but its answer is lost, the third gets a 503."""

    def __init__(self) -> None:
        self.stored: dict[tuple[str, str], int] = {}
        self.requests = 0
        self.keys: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.requests == 1:
            raise httpx.ConnectError("connection refused", request=request)
        if self.requests == 3:
            return httpx.Response(503, json={"error": {"code": "busy"}}, headers={"Retry-After": "0"})
        assert request.headers["authorization"] == "Bearer sbk_test"
        self.keys.append(request.headers["idempotency-key"])
        key = (request.url.params["drive_id"], hashlib.sha256(_file_part(request)).hexdigest())
        duplicate = key in self.stored
        self.stored.setdefault(key, len(self.stored) + 1)
        if self.requests == 2:
            raise httpx.ReadTimeout("answer lost", request=request)
        return httpx.Response(200, json={"stored": {"frame_id": self.stored[key], "duplicate": duplicate}})


def _file_part(request: httpx.Request) -> bytes:
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.message_from_bytes(head + request.read())
    return next(p.get_payload(decode=True) for p in message.get_payload() if p.get_filename())


def test_cuts_and_lost_answers_store_each_event_once(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / OUTBOX_FILE)
    for i in range(5):
        (tmp_path / f"{i}.jpg").write_bytes(f"jpeg {i}".encode())
        props = {"first_seen": f"2025-05-01T08:00:0{i}Z"}
        fields = {"drive_id": "d1", "lat": 52.5, "lon": 13.4, "heading": 90.0, "captured_at": None}
        outbox.add(f"e{i}", "d1", "road_damage", f"{i}.jpg", fields, {"properties": props})
    outbox.add("gone", "d1", "road_damage", "missing.jpg", {"drive_id": "d1"}, {"properties": {}})
    server = FlakyServer()
    target = ServerTarget("http://vehicle-test", api_key="sbk_test")
    uploader = Uploader(tmp_path, tmp_path / OUTBOX_FILE, target, FAST, httpx.MockTransport(server), seed=1)
    assert uploader.start().drain(timeout_s=20)  # nothing pending: the refused row is marked failed
    assert outbox.counts() == {"pending": 0, "sent": 5, "failed": 1}
    assert sorted(server.stored.values()) == [1, 2, 3, 4, 5]  # five images, each stored once
    assert len(server.keys) == 6 and len(set(server.keys)) == 5  # the lost answer's retry reuses its key
    assert "frame file unreadable" in (outbox.last_error() or "")
    outbox.close()


@pytest.fixture
def server(tmp_path: Path, edge_env: Path) -> Iterator[tuple[ServerProcess, str, str]]:
    """A fresh service with API keys: an inspector key for the vehicle, a GIS key to look at the result."""
    data = tmp_path / "server-data"
    env = {
        "STADTBLICK_WEIGHTS_DIR": str(edge_env),
        "STADTBLICK_DATA_DIR": str(data),
        "STADTBLICK_AUTH": "required",
        "STADTBLICK_INFERENCE_WORKERS": "1",
        "STADTBLICK_INTRA_OP_THREADS": "1",
    }
    keys = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STADTBLICK_DATA_DIR", str(data))
        for role in ("inspector", "gis"):
            path = tmp_path / f"{role}.key"
            with path.open("w") as out, contextlib.redirect_stdout(out):
                assert main(["keys", "create", "--role", role, "--name", f"test-{role}"]) == 0
            keys.append(path.read_text().strip().splitlines()[-1])
    process = ServerProcess(free_port(), env, tmp_path / "server.log").start()
    yield process, keys[0], keys[1]
    process.stop()


def test_server_killed_mid_drive_holds_every_event_exactly_once(
    tmp_path: Path, drive_inputs: tuple[Path, Path], server: tuple[ServerProcess, str, str]
) -> None:
    process, inspector_key, gis_key = server
    video, gpx = drive_inputs
    out = tmp_path / "drive"
    track = load_track(gpx)
    capture = open_capture(str(video))
    frames = read_frames(capture, VideoClock(T0, 10.0), DistanceSampler(track, 4.0, ReadStats()), ReadStats())
    uploader = Uploader(out, out / OUTBOX_FILE, ServerTarget(process.url, inspector_key), FAST).start()
    detectors = load_detectors(Settings(), "road_damage")
    recorder = DriveRecorder(out, "kill-test", detectors, None, camera_model(Settings()), on_event=uploader.notify)
    killed, restarted = threading.Event(), threading.Event()

    def counts() -> dict[str, int]:
        box = Outbox(out / OUTBOX_FILE)
        try:
            return box.counts()
        finally:
            box.close()

    def drive(frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            if frame.index >= 48 and not killed.is_set():  # the first event (~frame 40) is out: kill mid-drive
                deadline = time.monotonic() + 30
                while counts()["sent"] < 1 and time.monotonic() < deadline:
                    time.sleep(0.05)
                process.kill()
                killed.set()
            if frame.index >= 72 and not restarted.is_set():  # the second event (~frame 64) met a dead server
                assert counts()["pending"] >= 1
                process.start()
                restarted.set()
            yield frame

    recorder.run(drive(prefetched(frames)), track)
    recorder.close()
    assert killed.is_set() and restarted.is_set()
    assert uploader.drain(timeout_s=60)
    assert counts() == {"pending": 0, "sent": 3, "failed": 0}
    with sqlite3.connect(out / OUTBOX_FILE) as db:
        assert db.execute("SELECT MAX(attempts) FROM outbox").fetchone()[0] >= 2  # the cut was felt
    _assert_exactly_once(process.url, gis_key, "kill-test")

    # a crash after the server stored a frame but before the vehicle noted it: the row is pending again
    with sqlite3.connect(out / OUTBOX_FILE) as db:
        db.execute("UPDATE outbox SET status = 'pending' WHERE rowid = 1")
    assert main(["edge", "sync", str(out), "--server", process.url, "--api-key", inspector_key]) == 0
    with sqlite3.connect(out / OUTBOX_FILE) as db:
        response = json.loads(db.execute("SELECT response FROM outbox WHERE rowid = 1").fetchone()[0])
    assert response["duplicate"] is True
    _assert_exactly_once(process.url, gis_key, "kill-test")


def _assert_exactly_once(url: str, key: str, drive_id: str) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    detections = httpx.get(f"{url}/v1/detections.geojson", params={"drive_id": drive_id}, headers=headers).json()
    frames = [f["properties"]["frame_id"] for f in detections["features"]]
    assert len(frames) == len(set(frames)) == len(DAMAGES)
    items = httpx.get(f"{url}/ogc/collections/road_damage/items", params={"drive_id": drive_id}, headers=headers)
    records = items.json()["features"]
    assert sorted(r["properties"]["class"] for r in records) == sorted(d.class_name for d in DAMAGES)
    assert all(r["properties"]["count"] == 1 for r in records)
