"""`python -m bench.profile MODEL.onnx`: where one inference spends its time, per operator type.

ONNX Runtime's own profiler over `--runs` inferences of a random input; prints milliseconds per
inference and share for the most expensive operator types. This is how the DFL softmax
(3.4 of 19.4 ms on road_damage 1.0.0, `training/dfl_rewrite.py`) was found.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import onnxruntime as ort


def op_times_ms(model: Path, runs: int, threads: int) -> Counter[str]:
    """Kernel milliseconds per inference, summed per operator type."""
    options = ort.SessionOptions()
    options.enable_profiling = True
    options.intra_op_num_threads = threads
    with tempfile.TemporaryDirectory() as tmp:
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        inp = session.get_inputs()[0]
        x = np.random.default_rng(0).random([d if isinstance(d, int) else 1 for d in inp.shape], dtype=np.float32)
        for _ in range(runs):
            session.run(None, {inp.name: x})
        events = json.loads(Path(session.end_profiling()).read_text())
    times: Counter[str] = Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            times[e["args"]["op_name"]] += e["dur"] / 1000 / runs
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    p.add_argument("model", type=Path)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0: ONNX Runtime's choice)")
    p.add_argument("--top", type=int, default=10)
    args = p.parse_args(argv)
    times = op_times_ms(args.model, args.runs, args.threads)
    total = sum(times.values())
    print("| operator | ms per inference | share |\n| --- | --- | --- |")
    for op, ms in times.most_common(args.top):
        print(f"| {op} | {ms:.2f} | {ms / total:.0%} |")
    print(f"| all | {total:.2f} | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
