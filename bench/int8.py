"""INT8 vs fp32: the speed-up (from the interleaved raw timing) and the accuracy it costs.

Accuracy is mAP50 on a validation split, computed by `training.evaluate.evaluate` through the
service's own inference core (`OnnxDetector`), so the difference is what users would see
if the card switched `serve_variant` to int8.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bench.detectors import DetectorSpec
from bench.raw_latency import RawResult
from service.inference import OnnxDetector


def parse_val_args(values: list[str], specs: list[DetectorSpec]) -> dict[str, Path]:
    """`--val-data NAME=data.yaml` (or a bare path when exactly one detector has an INT8 variant)."""
    with_int8 = [s.name for s in specs if "int8" in s.variants]
    out: dict[str, Path] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep:
            candidates = with_int8 if len(with_int8) == 1 else [s.name for s in specs] if len(specs) == 1 else []
            if len(candidates) != 1:
                raise SystemExit(f"--val-data {value}: say which detector it is for, as NAME=data.yaml")
            name, path = candidates[0], value
        out[name] = Path(path)
    return out


def subset_yaml(data_yaml: Path, max_images: int | None, workdir: Path, split: str = "val") -> tuple[Path, int]:
    """A data.yaml over an evenly spaced subset of the split (for --quick); labels stay where they are."""
    from training.datasets.layout import load_yolo_dataset

    dataset = load_yolo_dataset(data_yaml)
    files = dataset.splits.get(split) or []
    if max_images is None or len(files) <= max_images:
        return data_yaml, len(files)
    step = max(len(files) // max_images, 1)
    chosen = files[::step][:max_images]
    workdir.mkdir(parents=True, exist_ok=True)
    listing = workdir / f"{split}.txt"
    listing.write_text("\n".join(str(p.resolve()) for p in chosen) + "\n", encoding="utf-8")
    out = workdir / "data.yaml"
    out.write_text(yaml.safe_dump({split: listing.name, "names": dict(enumerate(dataset.names))}), encoding="utf-8")
    return out, len(chosen)


def measure_int8(
    spec: DetectorSpec, raw: RawResult | None, data_yaml: Path | None, max_images: int | None, workdir: Path
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "detector": spec.name,
        "fp32_p50_ms": raw.p50("fp32") if raw else None,
        "int8_p50_ms": raw.p50("int8") if raw else None,
        "speedup": raw.int8_speedup if raw else None,
        "data": str(data_yaml) if data_yaml else None,
    }
    if data_yaml is None:
        result["accuracy_note"] = "no --val-data for this detector: mAP50 not measured"
        return result
    try:
        from training.evaluate import evaluate  # the [train] extra's evaluation, same inference core
    except ImportError as exc:
        result["error"] = f"training.evaluate unavailable: {exc}"
        return result
    try:
        yaml_path, count = subset_yaml(data_yaml, max_images, workdir / spec.name)
        scores = {}
        for variant in ("fp32", "int8"):
            evaluation = evaluate(OnnxDetector(spec.variants[variant], spec.card), yaml_path, split="val")
            scores[variant] = evaluation
        result.update(
            {
                "val_images": count,
                "val_instances": scores["fp32"].instances,
                "fp32_map50": round(scores["fp32"].map50, 4),
                "int8_map50": round(scores["int8"].map50, 4),
                "delta_map50": round(scores["int8"].map50 - scores["fp32"].map50, 4),
                "fp32_map50_95": round(scores["fp32"].map50_95, 4),
                "int8_map50_95": round(scores["int8"].map50_95, 4),
            }
        )
    except Exception as exc:  # a dataset that does not match the model's classes, a missing split ...
        result["error"] = f"{type(exc).__name__}: {exc}"
    return result
