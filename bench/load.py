"""`python -m bench.load`: sustained concurrent uploads against a real server, for minutes.

Starts its own uvicorn on 127.0.0.1 (never another interface) with authentication on, creates
an inspector key with `stadtblick keys create`, and keeps `--clients` connections uploading
photos to `POST /v1/detect` (every `--store-every`-th one with `store=true`, so the database and
the frame store are written too) until `--duration` seconds or `--max-requests` have passed.
Reports errors by status, latency, throughput and the server's memory: RSS once warmed up, at
the end, peak, and the growth between (target: no errors, growth ≤ 10 %). Writes docs/load.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.images import find_source_photo, jpeg_bytes, make_frame
from bench.machine import machine_info
from bench.memory import rss_mb
from bench.service_latency import Server, run_server
from bench.timing import summarize

REPO = Path(__file__).resolve().parents[1]
DEFAULT_WEIGHTS = [REPO / "weights", REPO / "work" / "bench-weights"]
GROWTH_TARGET = 0.10
SAMPLE_EVERY_S = 1.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    p.add_argument("--duration", type=float, default=300.0, help="seconds of sustained load (default 300)")
    p.add_argument("--max-requests", type=int, default=100_000, help="stop after this many uploads")
    p.add_argument("--clients", type=int, default=4, help="concurrent connections (default 4)")
    p.add_argument("--store-every", type=int, default=4, help="every n-th upload with store=true (0: never)")
    p.add_argument("--detectors", default=None, help="detector names (default: the server's default ones)")
    p.add_argument("--weights-dir", action="append", type=Path, default=None, help="repeatable")
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--out", type=Path, default=REPO / "docs" / "load.md", help="the report (markdown)")
    return p.parse_args(argv)


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    rss: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, MiB)


@contextmanager
def keyed_server(weights_dirs: list[Path] | None, prefix: str) -> Iterator[tuple[Server, str]]:
    """A server (weights: the given folders, else DEFAULT_WEIGHTS) in a temporary data folder with
    authentication on, and an inspector key for it.

    No rate limit (one key on purpose sends far more than a person would) and no anonymisation
    model needed (throwaway frames of a synthetic street)."""
    weights = [p for p in (weights_dirs or DEFAULT_WEIGHTS) if p.exists()]
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        workdir = Path(tmp)
        key = create_key(workdir)
        extra = {
            "STADTBLICK_AUTH": "required",
            "STADTBLICK_RATE_LIMIT_PER_MINUTE": "0",
            "STADTBLICK_REQUIRE_ANONYMISATION": "false",
        }
        with run_server(weights, workdir, extra) as server:
            yield server, key


def create_key(workdir: Path) -> str:
    """An inspector key in the server's database, through the real command; the key is stdout's last line."""
    env = {**os.environ, "STADTBLICK_DATA_DIR": str(workdir / "data")}
    cmd = [sys.executable, "-c", "from service.cli.main import main; raise SystemExit(main())"]
    result = subprocess.run(
        [*cmd, "keys", "create", "--role", "inspector", "--name", "load-test"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


async def upload(args: argparse.Namespace, url: str, key: str, photo: bytes, pid: int, tally: Tally) -> float:
    """Run the load; returns its wall time. Each upload differs by a counter after the JPEG's end."""
    began = time.perf_counter()
    deadline = began + args.duration
    sent = 0
    params = {"detectors": args.detectors} if args.detectors else {}
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "image/jpeg"}

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal sent
        while sent < args.max_requests and time.perf_counter() < deadline:
            sent += 1
            store = args.store_every > 0 and sent % args.store_every == 0
            query = {**params, "store": "true", "drive_id": "load"} if store else params
            start = time.perf_counter()
            try:
                response = await client.post(
                    f"{url}/v1/detect", params=query, content=photo + sent.to_bytes(8, "big"), headers=headers
                )
                tally.statuses[str(response.status_code)] += 1
                if response.status_code == 200:
                    tally.latencies.append(time.perf_counter() - start)
            except httpx.HTTPError as exc:
                tally.statuses[type(exc).__name__] += 1

    async def sample_memory() -> None:
        while time.perf_counter() < deadline and sent < args.max_requests:
            value = rss_mb(pid)
            if value is not None:
                tally.rss.append((time.perf_counter() - began, value))
            await asyncio.sleep(SAMPLE_EVERY_S)

    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        await asyncio.gather(sample_memory(), *(client_loop(client) for _ in range(args.clients)))
    return time.perf_counter() - began


def memory_growth(rss: list[tuple[float, float]], duration: float) -> dict[str, float | None]:
    """Warm RSS: median over the 2nd tenth of the run (after start-up and first allocations); end
    RSS: median over the last tenth. Growth compares the two."""

    def median_between(lo: float, hi: float) -> float | None:
        values = [v for t, v in rss if lo <= t <= hi]
        return round(statistics.median(values), 1) if values else None

    warm = median_between(0.1 * duration, 0.2 * duration)
    end = median_between(0.9 * duration, duration + 1)
    growth = round((end - warm) / warm, 4) if warm and end else None
    return {"warm_mb": warm, "end_mb": end, "peak_mb": max((v for _, v in rss), default=None), "growth": growth}


def report(
    args: argparse.Namespace, argv: list[str], machine: dict, tally: Tally, wall: float, photo_kb: int, load_end: list
) -> str:
    done = len(tally.latencies)
    errors = sum(n for status, n in tally.statuses.items() if status != "200")
    memory = memory_growth(tally.rss, wall)
    latency = summarize(tally.latencies)
    lat = [t * 1000 for t in tally.latencies]
    p99 = round(statistics.quantiles(lat, n=100)[98], 1) if len(lat) >= 100 else None
    passed = errors == 0 and memory["growth"] is not None and memory["growth"] <= GROWTH_TARGET
    command = shlex.join(["python", "-m", "bench.load", *argv])
    growth = "–" if memory["growth"] is None else f"{memory['growth']:+.1%}"
    lines = [
        "# Load test: sustained concurrent uploads",
        "",
        f"Generated by `{command}` on {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} "
        f"(git {machine['git'].get('commit', '?')[:10]}{' + local changes' if machine['git'].get('dirty') else ''}).",
        "",
        "The script starts its own uvicorn on 127.0.0.1 with authentication on, creates an inspector",
        "key with `stadtblick keys create`, and keeps the clients uploading; every upload differs",
        "(a counter after the JPEG's end), so stored frames are new frames, not duplicates. The server",
        "runs with `STADTBLICK_RATE_LIMIT_PER_MINUTE=0` (one key sends far more than a person would) and",
        "`STADTBLICK_REQUIRE_ANONYMISATION=false` (throwaway synthetic frames; no anonymisation model needed).",
        "",
        "## Machine",
        "",
        f"- CPU: {machine['cpu_model']}, {machine['usable_cores']} usable cores, {machine['ram_total_gb']} GB RAM",
        f"- load average at start: {machine['load_average_at_start']}, at end: {load_end}",
        "",
        "## Result",
        "",
        "| | |",
        "| --- | --- |",
        f"| duration | {wall:.0f} s (asked: {args.duration:.0f} s, at most {args.max_requests} uploads) |",
        f"| clients | {args.clients} concurrent connections |",
        f"| image | {args.width}×{args.height} JPEG ({photo_kb} KiB), detectors: {args.detectors or 'default'} |",
        f"| uploads | {sum(tally.statuses.values())} ({done} OK); every {args.store_every}th with `store=true` |",
        f"| errors | **{errors}** {dict(tally.statuses) if errors else ''} |",
        f"| throughput | {done / wall:.2f} uploads/s |",
        f"| latency p50 / p95 / p99 / max | {latency.p50_ms:.0f} / {latency.p95_ms:.0f} / {p99 or '–'} / "
        f"{latency.max_ms:.0f} ms |",
        f"| server RSS warm / end / peak | {memory['warm_mb']} / {memory['end_mb']} / {memory['peak_mb']} MiB |",
        f"| memory growth (warm → end) | **{growth}** (target ≤ {GROWTH_TARGET:.0%}) |",
        f"| verdict | {'PASS' if passed else 'FAIL'} |",
        "",
        "Warm RSS is the median over the second tenth of the run, end RSS over the last tenth;",
        f"RSS was sampled every {SAMPLE_EVERY_S:.0f} s ({len(tally.rss)} samples).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    machine = machine_info()
    photo_rgb, _ = find_source_photo()
    photo = jpeg_bytes(make_frame(photo_rgb, args.width, args.height), 90)
    with keyed_server(args.weights_dir, "stadtblick-load-") as (server, key):
        tally = Tally()
        wall = asyncio.run(upload(args, server.url, key, photo, server.pid, tally))
        log_tail = server.log_tail()
    load_end = [round(x, 2) for x in os.getloadavg()]
    text = report(args, argv, machine, tally, wall, len(photo) // 1024, load_end)
    print(text)
    if log_tail.strip():
        print("server log (tail):\n" + log_tail, file=sys.stderr)
    args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
