"""End-to-end `POST /v1/detect` through a real uvicorn server: latency per image size and
throughput with 1, 2, 4, 8 concurrent clients, plus the server's RSS.

A real server in a subprocess on 127.0.0.1 (not the in-process TestClient) so that HTTP
parsing, multipart handling, the worker pool and the event loop are all in the numbers, and
the server's memory can be read from outside. Request counts and wall time are bounded.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.images import TestImage
from bench.memory import RssSampler, cpu_seconds, high_water_mb, rss_mb, wait_a_moment
from bench.timing import Budget, summarize, time_calls

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"  # loopback only: the benchmark never opens a port to the network
CONCURRENCY = (1, 2, 4, 8)
# One inference per image, like the raw model and the PyTorch reference it is compared with; a
# card's tiling (several inferences per large frame, road_damage) is a feature with its own cost.
UNTILED = {"tiling": "false"}
READY_TIMEOUT_S = 180.0


class ServerError(RuntimeError):
    """The server did not start or answered with an error; the message carries its log tail."""


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    ready: dict[str, Any]

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def server_env(weights_dirs: list[Path], workdir: Path, extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env["STADTBLICK_WEIGHTS_DIR"] = os.pathsep.join(str(p.resolve()) for p in weights_dirs)
    env["STADTBLICK_DATA_DIR"] = str((workdir / "data").resolve())
    env.setdefault("YOLO_OFFLINE", "1")
    env.setdefault("STADTBLICK_AUTH", "disabled")  # loopback only; bench/load.py measures with API keys
    env.update(extra)
    return env


@contextmanager
def run_server(weights_dirs: list[Path], workdir: Path, extra_env: dict[str, str]) -> Iterator[Server]:
    """`uvicorn --factory service.api.app:create_app` on a free loopback port, stopped afterwards."""
    port = free_port()
    log_path = workdir / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "service.api.app:create_app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            cmd, cwd=REPO, env=server_env(weights_dirs, workdir, extra_env), stdout=log, stderr=subprocess.STDOUT
        )
    server = Server(f"http://{HOST}:{port}", process, log_path, {})
    try:
        server.ready = _wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_ready(server: Server) -> dict[str, Any]:
    deadline = time.monotonic() + READY_TIMEOUT_S
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise ServerError(f"server exited with {server.process.returncode}:\n{server.log_tail()}")
            try:
                response = client.get(f"{server.url}/readyz")
                if response.status_code == 200:
                    return response.json()
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    raise ServerError(f"server not ready after {READY_TIMEOUT_S:.0f} s:\n{server.log_tail()}")


def _post(client: httpx.Client, url: str, detector: str, image: TestImage, data: bytes) -> dict[str, Any]:
    response = client.post(
        f"{url}/v1/detect",
        params={"detectors": detector, **UNTILED},
        files={"file": (image.path.name, data, "image/jpeg")},
    )
    if response.status_code != 200:
        raise ServerError(f"POST /v1/detect -> {response.status_code}: {response.text[:300]}")
    return response.json()


def sequential_latency(
    server: Server, detector: str, image: TestImage, budget: Budget, raw_fn: Callable[[], object] | None = None
) -> dict[str, Any]:
    """One client, one request at a time: the latency a single user sees, and the server's own split of it.

    With `raw_fn`, a raw ONNX Runtime inference (in this process) alternates with each request,
    so "end to end minus raw" compares numbers taken under the same background load.
    """
    data = image.data
    timings: list[dict[str, Any]] = []
    samples: list[float] = []
    raw_samples: list[float] = []
    deadline = time.perf_counter() + budget.max_seconds
    with httpx.Client(timeout=120) as client:
        for _ in range(budget.warmup):
            _post(client, server.url, detector, image, data)
            if raw_fn is not None:
                raw_fn()
        for _ in range(budget.requests):
            if raw_fn is not None:
                start = time.perf_counter()
                raw_fn()
                raw_samples.append(time.perf_counter() - start)
            start = time.perf_counter()
            body = _post(client, server.url, detector, image, data)
            samples.append(time.perf_counter() - start)
            timings.append(body.get("timing_ms", {}))
            if time.perf_counter() > deadline:
                break
    stats = summarize(samples).as_dict()
    server_split = {
        "decode": _median([t.get("decode") for t in timings]),
        "detector": _median([t.get("detectors", {}).get(detector) for t in timings]),
        "total": _median([t.get("total") for t in timings]),
    }
    overhead = round(stats["p50_ms"] - server_split["total"], 3) if server_split["total"] is not None else None
    return {
        "detector": detector,
        "image": image.name,
        "image_mb": image.megabytes,
        "latency_ms": stats,
        "raw_interleaved_ms": summarize(raw_samples).as_dict() if raw_samples else None,
        "server_timing_ms_p50": server_split,
        "http_overhead_ms_p50": overhead,
    }


def _median(values: list[Any]) -> float | None:
    numbers = [float(v) for v in values if isinstance(v, (int, float))]
    return round(statistics.median(numbers), 3) if numbers else None


async def _load(
    url: str, detector: str, image: TestImage, data: bytes, clients: int, requests: int, max_seconds: float
) -> tuple[list[float], int, float]:
    """`clients` concurrent connections sending `requests` images in total; returns latencies, errors, wall time."""
    latencies: list[float] = []
    errors = 0
    remaining = requests
    deadline = time.perf_counter() + max_seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:

        async def worker() -> None:
            nonlocal remaining, errors
            while remaining > 0 and time.perf_counter() < deadline:
                remaining -= 1
                start = time.perf_counter()
                response = await client.post(
                    f"{url}/v1/detect",
                    params={"detectors": detector, **UNTILED},
                    files={"file": (image.path.name, data, "image/jpeg")},
                )
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - start)
                else:
                    errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return latencies, errors, time.perf_counter() - began


def throughput(
    server: Server, detector: str, image: TestImage, budget: Budget, raw_fn: Callable[[], object] | None = None
) -> dict[str, Any]:
    """Images/s at 1, 2, 4, 8 concurrent clients; server RSS sampled throughout for the peak.

    With `raw_fn`, raw single-stream inference is timed right before the load levels, so the
    ratio compares two numbers taken a few seconds apart rather than minutes.
    """
    data = image.data
    levels = []
    raw_adjacent = None
    if raw_fn is not None:
        raw_adjacent = summarize(time_calls(raw_fn, budget.warmup, budget.iters, budget.max_seconds)).as_dict()
    with RssSampler(server.pid) as sampler:
        for clients in CONCURRENCY:
            requests = max(budget.throughput_requests, 2 * clients if not budget.quick else clients)
            if not budget.quick:  # one untimed round so every worker thread has run once
                asyncio.run(_load(server.url, detector, image, data, clients, clients, budget.max_seconds))
            server_cpu, client_cpu = cpu_seconds(server.pid), cpu_seconds(os.getpid())
            latencies, errors, wall = asyncio.run(
                _load(server.url, detector, image, data, clients, requests, budget.max_seconds)
            )
            server_cpu_used = _delta(cpu_seconds(server.pid), server_cpu)
            client_cpu_used = _delta(cpu_seconds(os.getpid()), client_cpu)
            done = len(latencies)
            levels.append(
                {
                    "clients": clients,
                    "requests": done,
                    "errors": errors,
                    "wall_s": round(wall, 3),
                    "images_per_s": round(done / wall, 3) if wall > 0 and done else 0.0,
                    "latency_ms": summarize(latencies).as_dict(),
                    "server_cpu_s_per_image": round(server_cpu_used / done, 4) if done and server_cpu_used else None,
                    "client_cpu_s_per_image": round(client_cpu_used / done, 4) if done and client_cpu_used else None,
                }
            )
    return {
        "detector": detector,
        "image": image.name,
        "levels": levels,
        "raw_adjacent_ms": raw_adjacent,
        "raw_adjacent_images_per_s": round(1000 / raw_adjacent["p50_ms"], 2) if raw_adjacent else None,
        "rss_peak_sampled_mb": sampler.peak_mb,
    }


def _delta(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else after - before


def measure_service(
    server: Server,
    detectors: list[str],
    images: list[TestImage],
    budget: Budget,
    raw_fns: dict[str, Callable[[], object]] | None = None,
) -> dict[str, Any]:
    """Latency, throughput and memory against one server that has every detector of the weights folders loaded."""
    raw_fns = raw_fns or {}
    out: dict[str, Any] = {"latency": [], "throughput": [], "memory": {}, "ready": server.ready}
    status = server.ready.get("detectors", {})
    out["not_ready"] = {name: status.get(name, "missing") for name in detectors if status.get(name) != "ready"}
    detectors = [name for name in detectors if status.get(name) == "ready"]  # a broken model: reported, skipped
    wait_a_moment()
    memory: dict[str, Any] = {"loaded_idle_mb": rss_mb(server.pid)}
    with httpx.Client(timeout=30) as client:
        info = client.get(f"{server.url}/info")
        out["info"] = info.json() if info.status_code == 200 else {"status": info.status_code}
    for detector in detectors:
        for image in images:
            out["latency"].append(sequential_latency(server, detector, image, budget, raw_fns.get(detector)))
    wait_a_moment()
    memory["after_warmup_mb"] = rss_mb(server.pid)
    for detector in detectors:
        result = throughput(server, detector, images[0], budget, raw_fns.get(detector))
        out["throughput"].append(result)
        sampled = result["rss_peak_sampled_mb"]
        if sampled is not None:
            memory["peak_under_load_sampled_mb"] = max(memory.get("peak_under_load_sampled_mb") or 0.0, sampled)
    memory["high_water_mark_mb"] = high_water_mb(server.pid)
    out["memory"] = memory
    return out


class Poster:
    """One keep-alive client posting a test image to the server; used to interleave with the reference."""

    def __init__(self, server: Server):
        self.server = server
        self.client = httpx.Client(timeout=300)
        self._data: dict[str, bytes] = {}

    def __call__(self, detector: str, image: TestImage) -> None:
        data = self._data.setdefault(image.name, image.data)
        _post(self.client, self.server.url, detector, image, data)

    def close(self) -> None:
        self.client.close()
