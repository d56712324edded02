"""`python -m bench.hostile`: small uploads keep their latency while hostile ones arrive.

Starts its own uvicorn on 127.0.0.1 (authentication on, an inspector key from `stadtblick keys
create`) and, for `--duration` seconds, lets `--hostile` clients send a rotation of uploads meant to
starve the service, while one client sends an ordinary photo to `POST /v1/detect` every 0.2 s and
another polls `/healthz`:

* a 3,000,000 × 1 and an 80,000,000 × 1 PNG (a few KiB, once cut into thousands of tiles);
* a 20,000 × 1,000 PNG (at the aspect-ratio limit) and a 10,000 × 8,000 PNG (at the pixel limit):
  accepted, the most work one upload may cause;
* a zip batch whose 8 members inflate to 30 MiB each (as the issue's archive bomb).

Reports the ordinary detect's latency (target: every one under 1 s), the slowest `/healthz`, the
answers to the hostile uploads, whether every batch job finished with per-frame errors, and the
server's peak RSS. Writes docs/hostile.md.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import shlex
import sys
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from PIL import Image

from bench.images import find_source_photo, jpeg_bytes, make_frame
from bench.load import keyed_server
from bench.machine import machine_info
from bench.memory import rss_mb
from bench.timing import summarize

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 1.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__)
    p.add_argument("--duration", type=float, default=60.0, help="seconds of hostile load (default 60)")
    p.add_argument("--hostile", type=int, default=4, help="concurrent hostile clients (default 4)")
    p.add_argument("--weights-dir", action="append", type=Path, default=None, help="repeatable")
    p.add_argument("--out", type=Path, default=REPO / "docs" / "hostile.md", help="the report (markdown)")
    return p.parse_args(argv)


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height)).save(buffer, "PNG")
    return buffer.getvalue()


def archive_bomb(members: int = 8, member_bytes: int = 30 * 1024 * 1024) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for i in range(members):
            zf.writestr(f"frame-{i}.jpg", b"\xff\xd8\xff" + b"\0" * (member_bytes - 3))
    return buffer.getvalue()


@dataclass
class Tally:
    normal: list[float] = field(default_factory=list)
    normal_errors: Counter[str] = field(default_factory=Counter)
    health: list[float] = field(default_factory=list)
    hostile: Counter[str] = field(default_factory=Counter)
    jobs: list[str] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)


async def attack(url: str, key: str, photo: bytes, pid: int, args: argparse.Namespace, tally: Tally) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    payloads = [("png 3000000x1", png(3_000_000, 1)), ("png 80000000x1", png(80_000_000, 1))]
    payloads += [("png 20000x1000", png(20_000, 1_000)), ("png 10000x8000", png(10_000, 8_000))]
    bomb = archive_bomb()
    deadline = time.perf_counter() + args.duration

    async def hostile(client: httpx.AsyncClient, offset: int) -> None:
        turn = offset
        while time.perf_counter() < deadline:
            turn += 1
            if turn % (len(payloads) + 1) == len(payloads):
                name = "zip 8 x 30 MiB"
                files = {"archive": ("bomb.zip", bomb, "application/zip")}
                r = await client.post(f"{url}/v1/frames/batch", data={"drive_id": "hostile"}, files=files, headers=auth)
                if r.status_code == 202:
                    tally.jobs.append(r.json()["job_id"])
            else:
                name, data = payloads[turn % (len(payloads) + 1)]
                r = await client.post(f"{url}/v1/detect", content=data, headers={**auth, "Content-Type": "image/png"})
            code = r.json().get("error", {}).get("code", "") if r.status_code >= 400 else ""
            tally.hostile[f"{name}: {r.status_code} {code}".strip()] += 1
            if r.status_code == 503:
                await asyncio.sleep(float(r.headers.get("retry-after", "1")))

    async def normal(client: httpx.AsyncClient) -> None:
        headers = {**auth, "Content-Type": "image/jpeg"}
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            r = await client.post(f"{url}/v1/detect", content=photo, headers=headers)
            if r.status_code == 200:
                tally.normal.append(time.perf_counter() - start)
            else:
                tally.normal_errors[str(r.status_code)] += 1
            await asyncio.sleep(0.2)

    async def health(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            await client.get(f"{url}/healthz")
            tally.health.append(time.perf_counter() - start)
            value = rss_mb(pid)
            if value is not None:
                tally.rss.append(value)
            await asyncio.sleep(0.25)

    async with httpx.AsyncClient(timeout=600) as client:
        await asyncio.gather(normal(client), health(client), *(hostile(client, i) for i in range(args.hostile)))


async def job_states(url: str, key: str, jobs: list[str], wait_s: float = 600) -> Counter[str]:
    """Every job's final state once none is queued or running (or `wait_s` passed)."""
    states: Counter[str] = Counter()
    deadline = time.perf_counter() + wait_s
    async with httpx.AsyncClient(timeout=60, headers={"Authorization": f"Bearer {key}"}) as client:
        for job in jobs:
            while True:
                state = (await client.get(f"{url}/v1/jobs/{job}")).json()
                if state["status"] not in ("queued", "running") or time.perf_counter() > deadline:
                    break
                await asyncio.sleep(0.5)
            complete = state["processed"] == state["total"] and len(state["errors"]) >= state["failed"] > 0
            states[f"{state['status']}, {'every frame with its error' if complete else 'INCOMPLETE'}"] += 1
    return states


def report(args: argparse.Namespace, argv: list[str], machine: dict, tally: Tally, jobs: Counter[str]) -> str:
    latency = summarize(tally.normal)
    slowest = max(tally.normal, default=0.0)
    passed = (
        tally.normal and slowest < TARGET_S and not tally.normal_errors and all("INCOMPLETE" not in j for j in jobs)
    )
    command = shlex.join(["python", "-m", "bench.hostile", *argv])
    lines = [
        "# Hostile uploads: does an ordinary detect keep its latency?",
        "",
        f"Generated by `{command}` on {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} "
        f"(git {machine['git'].get('commit', '?')[:10]}{' + local changes' if machine['git'].get('dirty') else ''}).",
        "",
        "The script starts its own uvicorn on 127.0.0.1 with authentication on and otherwise default",
        "limits, except `STADTBLICK_RATE_LIMIT_PER_MINUTE=0` (the rate limit would hide what this measures)",
        "and `STADTBLICK_REQUIRE_ANONYMISATION=false`. See the module docstring for the uploads.",
        "",
        f"- CPU: {machine['cpu_model']}, {machine['usable_cores']} usable cores; load average at start "
        f"{machine['load_average_at_start']}",
        "",
        "| | |",
        "| --- | --- |",
        f"| duration | {args.duration:.0f} s, {args.hostile} hostile clients |",
        f"| ordinary detect (640×480 JPEG, default detectors) | {len(tally.normal)} OK, errors "
        f"{dict(tally.normal_errors) or 0}; p50 / p95 / max {latency.p50_ms:.0f} / {latency.p95_ms:.0f} / "
        f"{slowest * 1000:.0f} ms (target: every one < {TARGET_S * 1000:.0f} ms) |",
        f"| slowest `/healthz` | {max(tally.health, default=0) * 1000:.0f} ms |",
        f"| server RSS peak | {max(tally.rss, default=0):.0f} MiB |",
        f"| batch jobs | {dict(jobs) or 'none accepted'} |",
        f"| verdict | {'PASS' if passed else 'FAIL'} |",
        "",
        "Answers to the hostile uploads:",
        "",
        "| upload: status code | count |",
        "| --- | --- |",
        *(f"| {k} | {v} |" for k, v in sorted(tally.hostile.items())),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    machine = machine_info()
    photo = jpeg_bytes(make_frame(find_source_photo()[0], 640, 480), 90)
    with keyed_server(args.weights_dir, "stadtblick-hostile-") as (server, key):
        tally = Tally()
        asyncio.run(attack(server.url, key, photo, server.pid, args, tally))
        jobs = asyncio.run(job_states(server.url, key, tally.jobs))
    text = report(args, argv, machine, tally, jobs)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0 if "| verdict | PASS |" in text else 1


if __name__ == "__main__":
    raise SystemExit(main())
