"""`python -m bench.threads`: which worker/thread layout serves most images per second.

The service runs W inference workers, each calling ONNX Runtime with T intra-op threads. On a
small machine W x T > cores oversubscribes the CPU, and ONNX Runtime's spinning threads burn
the cores another worker needs. This measures JPEG decode + `OnnxDetector.detect` (what a
worker does per request) for a few layouts, with W requests always in flight, and prints
latency and throughput, so the defaults in `service/config.py` rest on numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.images import make_test_images
from service.imaging.decode import decode_image
from service.inference import OnnxDetector
from service.inference.session import SessionConfig
from service.registry.card import read_card

REPO = Path(__file__).resolve().parents[1]


def layouts(cores: int) -> list[tuple[int, int, bool]]:
    """(workers, intra-op threads, spinning): one wide worker, and one narrow worker per core."""
    return [(1, cores, True), (1, cores, False), (cores, 1, True), (cores, 1, False), (cores, cores, True)]


def measure(folder: Path, jpeg: bytes, workers: int, threads: int, spinning: bool, seconds: float) -> dict:
    card = read_card(folder)
    detector = OnnxDetector(folder / card.served_file.path, card, SessionConfig(threads, 1, spinning=spinning))
    side = max(detector.input_size)

    def one() -> float:
        began = time.perf_counter()
        detector.detect(decode_image(jpeg, target_long_side=side).pixels)
        return time.perf_counter() - began

    for _ in range(3):
        one()
    latencies: list[float] = []
    began = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        while time.perf_counter() - began < seconds:
            latencies += pool.map(lambda _: one(), range(workers * 4))
    wall = time.perf_counter() - began
    return {
        "workers": workers,
        "threads": threads,
        "spinning": spinning,
        "images": len(latencies),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "img_per_s": round(len(latencies) / wall, 2),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.threads", description=__doc__)
    p.add_argument("--detector", default="road_damage")
    p.add_argument("--weights-dir", type=Path, default=REPO / "weights")
    p.add_argument("--seconds", type=float, default=15.0, help="per layout")
    args = p.parse_args(argv)
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as tmp:
        jpeg = next(i for i in make_test_images(Path(tmp)) if i.name == "1080p").data
    print(f"{args.detector}, 1080p JPEG, {cores} cores, {args.seconds:.0f} s per layout")
    print("| workers | intra-op threads | spinning | p50 ms | img/s |\n| --- | --- | --- | --- | --- |")
    for workers, threads, spinning in layouts(cores):
        r = measure(args.weights_dir / args.detector, jpeg, workers, threads, spinning, args.seconds)
        spin = "on" if r["spinning"] else "off"
        print(f"| {r['workers']} | {r['threads']} | {spin} | {r['p50_ms']} | {r['img_per_s']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
