"""Scale-out on PostgreSQL with real processes: 2 API replicas (`stadtblick serve`) and 2 batch
workers (`stadtblick worker`) on one database and one data folder. A worker killed with SIGKILL
mid-job loses nothing: its frame goes to the other worker, every frame is stored and counted
once, and restarting a replica fails nobody's job (issue 25)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from db_backends import PostgresServer, _free_port
from helpers import jpeg_bytes, synthetic_photo

REPO = Path(__file__).resolve().parents[2]
FRAMES = 40
PARAMS = {"conf": 0.05, "max_det": 3, "detectors": "road_damage"}
#: Tasks being run whose frame is not settled yet.
HOLDING_UNSETTLED_FRAMES = """
    SELECT count(*) FROM procrastinate_jobs task JOIN staged_frames frame
      ON frame.job_id = task.args->>'job_id' AND frame.seq = (task.args->>'seq')::int
    WHERE task.status = 'doing' AND frame.outcome IS NULL"""
STALLED_S = 4  # the workers' heartbeat timeout: a killed worker's frame is taken up after this


class Process:
    """`stadtblick <command>` in a subprocess, its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.args, self.env, self.log = args, env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service.cli.main", *self.args],
                cwd=REPO,
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        os.kill(self.process.pid, sig)

    def stop(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def tail(self) -> str:
        return f"--- {' '.join(self.args)}:\n{self.log.read_text(errors='replace')[-3000:]}"


class Replica(Process):
    def __init__(self, env: dict[str, str], log: Path):
        self.port = _free_port()
        super().__init__(["serve", "--port", str(self.port), "--log-level", "warning"], env, log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False


def wait_until(condition: Callable[[], bool], what: str, processes: list[Process], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        dead = [p for p in processes if p.process is not None and not p.alive()]
        if dead or time.monotonic() > deadline:
            logs = "\n".join(p.tail() for p in processes)
            raise AssertionError(f"{'exited' if dead else 'timed out'} waiting for {what}\n{logs}")
        time.sleep(0.02)


@pytest.fixture
def cluster_env(postgres_server: PostgresServer, road_weights: Path, tmp_path: Path) -> dict[str, str]:
    url = postgres_server.create_database()
    return {
        "STADTBLICK_DATABASE_URL": url,
        "STADTBLICK_DATA_DIR": str(tmp_path / "shared-data"),
        "STADTBLICK_WEIGHTS_DIR": str(road_weights),
        "STADTBLICK_INFERENCE_WORKERS": "1",
        "STADTBLICK_WORKER_STALLED_S": str(STALLED_S),
        "PYTHONPATH": str(REPO),
    }


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for p in started:
        p.stop()


def test_a_killed_worker_loses_nothing_and_a_restarted_replica_fails_no_job(
    cluster_env: dict[str, str], processes: list[Process], tmp_path: Path
) -> None:
    db = psycopg.connect(cluster_env["STADTBLICK_DATABASE_URL"].replace("+psycopg", ""), autocommit=True)

    def scalar(sql: str, *args: object) -> object:
        return db.execute(sql, args).fetchone()[0]  # type: ignore[index]

    a, b = Replica(cluster_env, tmp_path / "a.log"), Replica(cluster_env, tmp_path / "b.log")
    processes += [a.start(), b.start()]
    wait_until(lambda: a.ready() and b.ready(), "both replicas", processes)

    photos = [jpeg_bytes(synthetic_photo(240, 320, seed=100 + i)) for i in range(FRAMES)]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        for i, photo in enumerate(photos):
            zf.writestr(f"drive/{i:03d}.jpg", photo)
    posted = httpx.post(
        f"{a.url}/v1/frames/batch",
        params=PARAMS,
        data={"drive_id": "survey"},
        files=[("archive", ("drive.zip", archive.getvalue()))],
        timeout=60,
    )
    assert posted.status_code == 202, posted.text
    job_id = posted.json()["job_id"]
    assert scalar("SELECT count(*) FROM staged_frames WHERE job_id = %s", job_id) == FRAMES  # before the 202

    # Replica B restarts while the job waits for a worker: its start-up leaves the job alone.
    # Meanwhile replica A stores the same frames in another drive: what one run of each stores.
    b.stop()
    b.start()
    for photo in photos:
        stored = httpx.post(f"{a.url}/v1/detect", params={**PARAMS, "store": "true", "drive_id": "ref"}, content=photo)
        assert stored.status_code == 200, stored.text
    wait_until(b.ready, "replica B after its restart", processes)
    assert httpx.get(f"{b.url}/v1/jobs/{job_id}").json()["status"] == "queued"

    workers = [Process(["worker"], cluster_env, tmp_path / f"w{i}.log") for i in (1, 2)]
    processes += [w.start() for w in workers]
    wait_until(lambda: scalar("SELECT count(*) FROM procrastinate_workers") == 2, "both workers", processes)

    def processed() -> int:
        return scalar("SELECT processed FROM jobs WHERE id = %s", job_id)  # type: ignore[return-value]

    # Kill one worker while both hold a frame not yet settled (each works one at a time) and more
    # frames wait: the job cannot finish unless the survivor takes up the victim's frame.
    victim, survivor = workers
    wait_until(lambda: processed() >= 8, "the first frames", processes)
    while True:
        for w in workers:
            w.signal(signal.SIGSTOP)  # frozen: what the database shows now stays true
        busy = scalar(HOLDING_UNSETTLED_FRAMES)
        remaining = scalar("SELECT count(*) FROM staged_frames WHERE job_id = %s AND outcome IS NULL", job_id)
        if busy == 2 and remaining >= 3:
            victim.signal(signal.SIGKILL)
            survivor.signal(signal.SIGCONT)
            break
        for w in workers:
            w.signal(signal.SIGCONT)
        assert remaining >= 3, "the job ran out of frames before both workers were caught holding one"
        time.sleep(0.01)
    assert victim.process is not None and victim.process.wait(timeout=10) == -signal.SIGKILL
    processes.remove(victim)

    def finished() -> bool:
        return httpx.get(f"{b.url}/v1/jobs/{job_id}").json()["status"] in ("done", "failed")

    wait_until(finished, "the job to finish on the surviving worker", processes, timeout_s=60 + 3 * STALLED_S)
    job = httpx.get(f"{b.url}/v1/jobs/{job_id}").json()
    assert job["status"] == "done" and job["processed"] == FRAMES and job["failed"] == 0, job
    assert scalar("SELECT count(*) FROM frames WHERE drive_id = 'survey'") == FRAMES
    assert scalar("SELECT count(DISTINCT sha256) FROM frames WHERE drive_id = 'survey'") == FRAMES

    def detections(drive: str) -> int:
        sql = "SELECT count(*) FROM detections JOIN frames ON frames.id = frame_id WHERE drive_id = %s"
        return scalar(sql, drive)  # type: ignore[return-value]

    assert detections("survey") == detections("ref") > 0, "each detection stored once"
    assert scalar("SELECT count(*) FROM staged_frames") == 0, "no staged original is left"
    assert "queued again" in survivor.log.read_text(), "the survivor took up the victim's frame"
    db.close()
