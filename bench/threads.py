"""`python -m bench.threads`: which worker/thread layout serves most images per second.

The service runs W inference workers, each calling ONNX Runtime with T intra-op threads. On a
small machine W x T > cores oversubscribes the CPU, and ONNX Runtime's spinning threads burn
the cores another worker needs. This measures JPEG decode + `OnnxDetector.detect` (what a
worker does per request) for a few layouts, with one request and then W requests always in
flight, and prints latency and throughput, so the defaults in `service/config.py` rest on numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.images import make_test_images
from service.imaging.decode import decode_image
from service.inference import OnnxDetector
from service.inference.card import read_card
from service.inference.session import RequestExecutor, SessionConfig

REPO = Path(__file__).resolve().parents[1]


def layouts(cores: int) -> list[tuple[int, SessionConfig]]:
    """(workers, session config): one wide worker, one narrow worker per core, and one worker per
    core whose run takes all cores while it is the only one (`lone_run_threads`)."""
    return [
        (1, SessionConfig(cores)),
        (1, SessionConfig(cores, spinning=False)),
        (cores, SessionConfig(1)),
        (cores, SessionConfig(1, spinning=False)),
        (cores, SessionConfig(cores)),
        (cores, SessionConfig(1, lone_run_threads=cores)),
        (cores, SessionConfig(1, spinning=False, lone_run_threads=cores)),
    ]


def measure(folder: Path, jpeg: bytes, workers: int, config: SessionConfig, seconds: float) -> dict:
    """Latency with one request in flight, then throughput with `workers` always in flight."""
    card = read_card(folder)
    detector = OnnxDetector(folder / card.served_file.path, card, config)
    side = max(detector.input_size)

    def one() -> float:
        began = time.perf_counter()
        detector.detect(decode_image(jpeg, target_long_side=side).pixels)
        return time.perf_counter() - began

    for _ in range(3):
        one()
    with RequestExecutor(1) as pool:
        lone = [pool.submit(one).result() for _ in range(20)]
    latencies: list[float] = []
    began = time.perf_counter()
    with RequestExecutor(workers) as pool:
        while time.perf_counter() - began < seconds:
            latencies += pool.map(lambda _: one(), range(workers * 4))
    wall = time.perf_counter() - began
    return {
        "lone_p50_ms": round(statistics.median(lone) * 1000, 1),
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
    print(
        "| workers | intra-op threads | lone-run threads | spinning | p50 ms, 1 in flight | p50 ms, loaded "
        "| img/s, loaded |\n| --- | --- | --- | --- | --- | --- | --- |"
    )
    for workers, config in layouts(cores):
        r = measure(args.weights_dir / args.detector, jpeg, workers, config, args.seconds)
        spin = "on" if config.spinning else "off"
        lone = config.lone_run_threads or "–"
        cells = [workers, config.intra_op_threads, lone, spin, r["lone_p50_ms"], r["p50_ms"], r["img_per_s"]]
        print("| " + " | ".join(map(str, cells)) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
