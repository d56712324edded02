"""`python -m bench`: run every measurement in one go and write docs/benchmarks.{md,json}.

One entry point with few options so that anyone re-running it gets a comparable report;
`--quick` is the smoke-test mode (seconds, for CI), not a benchmark.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
REPO_WEIGHTS = REPO / "weights"
EXTRA_WEIGHTS = REPO / "work" / "bench-weights"  # git-ignored; `--import-coco` puts the COCO detector here
SECTIONS = ("raw", "service", "reference", "int8")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument(
        "--weights-dir",
        action="append",
        type=Path,
        default=None,
        help=f"weights folder (repeatable; default: weights/ plus {EXTRA_WEIGHTS.relative_to(REPO)}/ when it exists)",
    )
    p.add_argument(
        "--import-coco",
        action="store_true",
        help="first import ../shared/weights/yolov5n.pt as detector `coco` into "
        f"{EXTRA_WEIGHTS.relative_to(REPO)}/ (once; needs the [train] extra)",
    )
    p.add_argument("--detectors", help="comma-separated detector names to benchmark (default: all found)")
    p.add_argument("--quick", action="store_true", help="a few iterations only: smoke test / CI, not a benchmark")
    p.add_argument("--out", type=Path, default=REPO / "docs", help="folder for benchmarks.md and benchmarks.json")
    p.add_argument(
        "--reference-pt",
        action="append",
        default=[],
        metavar="[NAME=]PATH",
        help="PyTorch weights of a detector for the Ultralytics reference (repeatable)",
    )
    p.add_argument(
        "--val-data",
        action="append",
        default=[],
        metavar="[NAME=]DATA.YAML",
        help="YOLO data.yaml whose val split scores INT8 vs fp32 for detector NAME (repeatable)",
    )
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the server, e.g. STADTBLICK_INTRA_OP_THREADS=1 (repeatable)",
    )
    p.add_argument("--skip", action="append", default=[], choices=SECTIONS, help="leave out a measurement")
    p.add_argument("--fail-on-target", action="store_true", help="exit 1 when a target FAILs")
    return p.parse_args(argv)


def import_coco() -> None:
    if (EXTRA_WEIGHTS / "coco" / "model.json").is_file():
        return
    from training.paths import shared_dir
    from training.yolov5_import import import_yolov5

    pt = shared_dir() / "weights" / "yolov5n.pt"
    if not pt.is_file():
        raise SystemExit(f"--import-coco: {pt} not found")
    print(f"importing {pt} as detector coco into {EXTRA_WEIGHTS} ...", flush=True)
    import_yolov5(pt, "coco", EXTRA_WEIGHTS)


def _display(path: Path) -> str:
    """Repository-relative where possible, so the committed report carries no machine-specific paths."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    if args.import_coco:
        import_coco()
    import httpx

    from bench import int8, reference, report, service_latency
    from bench.detectors import discover
    from bench.flops import measure_peak
    from bench.images import make_test_images
    from bench.machine import machine_info
    from bench.raw_latency import measure_raw, raw_runner
    from bench.timing import Budget

    roots = args.weights_dir or [REPO_WEIGHTS, *([EXTRA_WEIGHTS] if EXTRA_WEIGHTS.is_dir() else [])]
    only = [n.strip() for n in args.detectors.split(",") if n.strip()] if args.detectors else None
    specs = discover(roots, only)
    if not specs:
        print(
            f"no detectors found in {', '.join(map(str, roots))}; add --weights-dir or --import-coco", file=sys.stderr
        )
        return 2
    budget = Budget.for_mode(args.quick)
    references = [*reference.default_references(specs), *reference.parse_reference_args(args.reference_pt, specs)]
    val_data = int8.parse_val_args(args.val_data, specs)
    server_env = dict(v.split("=", 1) for v in args.server_env)
    started, t0 = datetime.now(UTC), time.perf_counter()

    results: dict[str, Any] = {
        "run": {
            "quick": args.quick,
            "started": started.isoformat(timespec="seconds"),
            "command": "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:]),
            "weights_dirs": [_display(r) for r in roots],
            "detectors": [s.name for s in specs],
            "budget": vars(budget),
        },
        "machine": machine_info(),
    }
    with tempfile.TemporaryDirectory(prefix="stadtblick-bench-") as tmp:
        workdir = Path(tmp)
        _log("generating test images")
        images = make_test_images(workdir / "images")
        results["images"] = [
            {"name": i.name, "width": i.width, "height": i.height, "mb": i.megabytes, "source": i.source}
            for i in images
        ]
        _log(f"peak FLOP/s ({budget.peak_size}² matmul)")
        peak = measure_peak(budget.peak_size, budget.peak_reps)
        results["peak"] = peak.as_dict()

        raw = {}
        if "raw" not in args.skip:
            for spec in specs:
                _log(f"raw ONNX Runtime latency: {spec.name} ({', '.join(spec.variants)})")
                raw[spec.name] = measure_raw(spec, images, budget, peak.best_gflops)
        results["raw"] = [r.as_dict() for r in raw.values()]

        results["reference"] = []
        by_name = {s.name: s for s in specs}
        refs = [] if "reference" in args.skip else references
        with contextlib.ExitStack() as stack:
            server, poster = None, None
            if "service" not in args.skip or refs:
                _log("starting the service (uvicorn on 127.0.0.1)")
                try:
                    server = stack.enter_context(service_latency.run_server(roots, workdir, server_env))
                    poster = service_latency.Poster(server)
                    stack.callback(poster.close)
                except (service_latency.ServerError, OSError) as exc:
                    results["service"] = {"error": str(exc)}
                    _log(f"the service did not start: {exc}")
            if server is not None and "service" not in args.skip:
                _log(f"service end to end: {', '.join(s.name for s in specs)}")
                try:
                    raw_fns = {
                        s.name: raw_runner(s, images[0]) for s in specs if s.name in raw and not raw[s.name].error
                    }
                    results["service"] = service_latency.measure_service(
                        server, [s.name for s in specs], images, budget, raw_fns
                    )
                    results["service"]["server_env"] = server_env
                except (service_latency.ServerError, httpx.HTTPError) as exc:
                    results["service"] = {"error": f"{type(exc).__name__}: {exc}"}
                    _log(f"service measurement failed: {exc}")
            for ref in refs:
                _log(f"reference {ref.kind}: {ref.detector} ({ref.path.name}), interleaved with the service")
                results["reference"].append(
                    reference.measure_reference(ref, by_name[ref.detector], images, budget, poster)
                )

        results["int8"] = []
        if "int8" not in args.skip:
            for spec in (s for s in specs if "int8" in s.variants):
                _log(f"INT8 vs fp32: {spec.name}")
                results["int8"].append(
                    int8.measure_int8(
                        spec, raw.get(spec.name), val_data.get(spec.name), budget.val_max_images, workdir / "val"
                    )
                )

    results["run"]["duration_s"] = round(time.perf_counter() - t0, 1)
    results["targets"] = report.evaluate_targets(results)
    md, js = report.write_report(results, args.out)
    for t in results["targets"]:
        print(f"{t['status']:4}  {t['target']}: {t['measured']}")
    print(f"wrote {md} and {js}")
    failed = any(t["status"] == "FAIL" for t in results["targets"])
    return 1 if failed and args.fail_on_target else 0


if __name__ == "__main__":
    raise SystemExit(main())
