"""Smoke test of the benchmark harness: `python -m bench --quick` against a tiny detector.

Checks that every section runs and the report files are written; performance targets are
deliberately not asserted (timed assertions on shared machines only produce flaky tests).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import TINY_INPUT, jpeg_bytes, need, synthetic_photo

from service.inference.card import ModelFile, read_card, sha256_file, write_card

REPO = Path(__file__).resolve().parents[2]
SECTIONS = (
    "## Machine",
    "## Targets",
    "## 1. Raw model latency",
    "## 2. Service end to end",
    "### Throughput",
    "## 3. Reference",
    "## 4. INT8 vs fp32",
    "## 5. Memory",
)


def _add_int8(folder: Path) -> None:
    """Quantise the tiny model (static QDQ, random calibration) and list it in the card as `int8`."""
    quantization = need("onnxruntime.quantization")
    rng = np.random.default_rng(0)
    feeds = iter([{"images": rng.random((1, 3, *TINY_INPUT), dtype=np.float32)} for _ in range(2)])

    class Reader(quantization.CalibrationDataReader):
        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(feeds, None)

    out = folder / "model.int8.onnx"
    quantization.quantize_static(
        str(folder / "model.onnx"),
        str(out),
        Reader(),
        quant_format=quantization.QuantFormat.QDQ,
        per_channel=True,
        weight_type=quantization.QuantType.QInt8,
        activation_type=quantization.QuantType.QUInt8,
    )
    card = read_card(folder)
    card.files["int8"] = ModelFile(path=out.name, sha256=sha256_file(out), precision="int8")
    write_card(folder, card)


def _val_dataset(root: Path, names: list[str], count: int = 3) -> Path:
    """A YOLO data.yaml with a few synthetic images and boxes, enough to compute a mAP50."""
    rng = np.random.default_rng(1)
    for sub in ("images/val", "labels/val"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (root / "images/val" / f"{i}.jpg").write_bytes(jpeg_bytes(synthetic_photo(240, 320, seed=i)))
        rows = [f"{rng.integers(0, 3)} {rng.uniform(0.3, 0.7):.3f} {rng.uniform(0.3, 0.7):.3f} 0.2 0.3"]
        (root / "labels/val" / f"{i}.txt").write_text("\n".join(rows) + "\n")
    data = root / "data.yaml"
    data.write_text("val: images/val\nnames:\n" + "".join(f"  {i}: {n}\n" for i, n in enumerate(names)))
    return data


@pytest.mark.slow
def test_bench_quick_writes_report(tiny_weights: Path, tmp_path: Path) -> None:
    need("torch")
    need("ultralytics")
    weights = tmp_path / "weights"
    (weights / "tiny").mkdir(parents=True)
    for f in (tiny_weights / "tiny").iterdir():
        (weights / "tiny" / f.name).write_bytes(f.read_bytes())
    _add_int8(weights / "tiny")
    data = _val_dataset(tmp_path / "val", read_card(weights / "tiny").class_names)
    out = tmp_path / "report"
    cmd = [sys.executable, "-m", "bench", "--quick", "--weights-dir", str(weights), "--out", str(out),
           "--reference-pt", "tiny=yolo11n.yaml", "--val-data", f"tiny={data}"]  # fmt: skip
    env = {**os.environ, "YOLO_OFFLINE": "1"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    markdown = (out / "benchmarks.md").read_text(encoding="utf-8")
    for heading in SECTIONS:
        assert heading in markdown, heading
    assert "Smoke run" in markdown

    report = json.loads((out / "benchmarks.json").read_text(encoding="utf-8"))
    assert report["run"]["quick"] is True
    assert report["machine"]["cpu_model"] and report["machine"]["versions"]["onnxruntime"]
    assert report["peak"]["best_gflops"] > 0

    raw = report["raw"][0]
    assert raw["error"] is None, raw["error"]
    assert set(raw["latency_ms"]) == {"fp32", "int8"}
    assert raw["flops"]["gflops"] > 0 and raw["latency_floor_ms"] > 0

    service = report["service"]
    assert "error" not in service, service.get("error")
    assert {(r["detector"], r["image"]) for r in service["latency"]} == {("tiny", "1080p"), ("tiny", "12mp")}
    levels = service["throughput"][0]["levels"]
    assert [lv["clients"] for lv in levels] == [1, 2, 4, 8]
    assert all(lv["requests"] > 0 and lv["errors"] == 0 for lv in levels)
    assert service["memory"]["loaded_idle_mb"] > 0

    ref = report["reference"][0]
    assert "error" not in ref, ref.get("error")
    assert set(ref["images"]) == {"1080p", "12mp"}

    int8 = report["int8"][0]
    assert "error" not in int8, int8.get("error")
    assert int8["speedup"] > 0 and int8["fp32_map50"] is not None and int8["int8_map50"] is not None

    assert report["targets"] and all(t["status"] in {"PASS", "FAIL", "N/A"} for t in report["targets"])
    versus_reference = [t for t in report["targets"] if "faster than ultralytics" in t["target"]]
    assert versus_reference and all("bound without any service overhead" in t["detail"] for t in versus_reference)
    assert all(line in proc.stdout for line in ("benchmarks.md",))


def test_multipart_stall_benchmark_reads_every_part() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench.multipart", "--frames", "3", "--kib", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert out.startswith("read 3 parts") and "longest event-loop stall" in out, out
