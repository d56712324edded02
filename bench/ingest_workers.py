"""`python -m bench.ingest_workers`: frames/s of batch ingest with 1, 2, ... `stadtblick worker`
processes on PostgreSQL (docs/scaling.md). Not a test: it reports, it asserts nothing.

For each worker count: a fresh database on a throwaway PostgreSQL server (the one the tests
start, tests/db_backends.py), one API replica (`stadtblick serve`) and N workers, all started
and ready first; then one batch of `--frames` frames (a zip) is posted and the time from the 202
to the job's `done` is measured. Each worker runs ONNX Runtime with `--threads` threads, so
N workers x threads = the cores they are meant to share.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import httpx
import psycopg

from bench.images import find_source_photo, jpeg_bytes, make_frame
from bench.machine import machine_info
from bench.service_latency import free_port, server_env

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from db_backends import PostgresServer  # noqa: E402  (the tests' throwaway server, not a copy of it)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.ingest_workers", description=__doc__)
    p.add_argument("--frames", type=int, default=120, help="frames in the batch (default 120)")
    p.add_argument("--workers", default="1,2", help="worker counts to compare (default 1,2)")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads per worker (default 1)")
    p.add_argument("--detectors", default="road_damage")
    p.add_argument("--weights-dir", type=Path, default=REPO / "weights")
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    return p.parse_args(argv)


def batch_zip(frames: int, width: int, height: int) -> bytes:
    photo, _ = find_source_photo()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for i in range(frames):
            zf.writestr(f"drive/{i:05d}.jpg", jpeg_bytes(make_frame(photo, width, height, seed=i), quality=90))
    return archive.getvalue()


def measure(server: PostgresServer, workers: int, archive: bytes, args: argparse.Namespace, tmp: Path) -> dict:
    url = server.create_database()
    env = server_env(
        [args.weights_dir],
        tmp,
        {
            "STADTBLICK_DATABASE_URL": url,
            "STADTBLICK_INTRA_OP_THREADS": str(args.threads),
            "STADTBLICK_INFERENCE_WORKERS": "1",
            "STADTBLICK_REQUIRE_ANONYMISATION": "false",  # throwaway synthetic frames
            "STADTBLICK_MAX_BATCH_FRAMES": str(max(args.frames, 5000)),
        },
    )
    port = free_port()
    stadtblick = [sys.executable, "-m", "service.cli.main"]
    logs = tmp / f"logs-{workers}"
    logs.mkdir()
    procs = [_start([*stadtblick, "serve", "--port", str(port), "--log-level", "warning"], env, logs / "api.log")]
    procs += [
        _start([*stadtblick, "worker", "--log-level", "warning"], env, logs / f"w{i}.log") for i in range(workers)
    ]
    db = psycopg.connect(url.replace("+psycopg", ""), autocommit=True)
    try:
        api = f"http://127.0.0.1:{port}"
        _wait(lambda: _ready(api), procs)
        _wait(lambda: db.execute("SELECT count(*) FROM procrastinate_workers").fetchone()[0] == workers, procs)
        params = {"detectors": args.detectors}
        files = [("archive", ("drive.zip", archive))]
        posted = httpx.post(
            f"{api}/v1/frames/batch", params=params, data={"drive_id": "bench"}, files=files, timeout=600
        )
        posted.raise_for_status()
        accepted = time.perf_counter()
        job_id = posted.json()["job_id"]
        status = f"SELECT status, processed, failed FROM jobs WHERE id = '{job_id}'"
        _wait(lambda: db.execute(status).fetchone()[0] in ("done", "failed"), procs, timeout_s=3600)
        elapsed = time.perf_counter() - accepted
        state, processed, failed = db.execute(status).fetchone()
    finally:
        db.close()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
    return {
        "workers": workers,
        "frames": processed,
        "failed": failed,
        "status": state,
        "seconds": round(elapsed, 2),
        "frames_per_s": round(processed / elapsed, 2),
    }


def _start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


def _ready(api: str) -> bool:
    try:
        return httpx.get(f"{api}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _wait(condition, procs: list[subprocess.Popen[bytes]], timeout_s: float = 180) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            raise RuntimeError("a process exited or the wait timed out; see the logs in the temporary folder")
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    archive = batch_zip(args.frames, args.width, args.height)
    server = PostgresServer().start()
    try:
        with tempfile.TemporaryDirectory(prefix="stadtblick-ingest-") as tmp:
            rows = [measure(server, int(n), archive, args, Path(tmp)) for n in args.workers.split(",")]
    finally:
        server.stop()
    machine = machine_info()
    print(json.dumps({"machine": machine, "args": {k: str(v) for k, v in vars(args).items()}, "runs": rows}, indent=1))
    print("\n| workers | frames | seconds | frames/s |\n|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['workers']} | {r['frames']} | {r['seconds']} | {r['frames_per_s']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
