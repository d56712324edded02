"""The reference a user would otherwise pick: the PyTorch model through its own Python pipeline.

Ultralytics' `YOLO(pt).predict` for an Ultralytics checkpoint, and the `yolov5` package's
AutoShape pipeline for the YOLOv5 COCO checkpoint behind the `coco` detector. Both read the
same JPEG files the service receives (decode, resize, inference, NMS included), so the
speed-up is end to end against end to end. Needs the [train] extra (torch).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.detectors import DetectorSpec
from bench.images import TestImage, shared_dir
from bench.timing import Budget, ratio, summarize, time_interleaved
from service.inference.card import sha256_file

_NO_WEIGHTS_ONLY = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"


@dataclass(frozen=True)
class ReferenceSpec:
    detector: str
    kind: str  # "ultralytics" or "yolov5"
    path: Path


def default_references(specs: list[DetectorSpec]) -> list[ReferenceSpec]:
    """The `coco` detector imported from ../shared/weights/yolov5n.pt gets the yolov5 package as reference.

    The checkpoint is a pickle (unpickling runs code), so it is used only when its SHA-256
    equals the one the detector's model card recorded at import.
    """
    out = []
    for spec in specs:
        data = spec.card.training_data
        name, digest = data.get("checkpoint"), data.get("checkpoint_sha256")
        if spec.card.output_layout != "yolov5" or not name or not digest:
            continue
        pt = shared_dir() / "weights" / str(name)
        if pt.is_file() and sha256_file(pt) == digest:
            out.append(ReferenceSpec(spec.name, "yolov5", pt))
    return out


def parse_reference_args(values: list[str], specs: list[DetectorSpec]) -> list[ReferenceSpec]:
    """`--reference-pt NAME=PATH` (or a bare PATH when exactly one detector is benchmarked)."""
    out = []
    for value in values:
        name, sep, path = value.partition("=")
        if not sep:
            if len(specs) != 1:
                raise SystemExit(f"--reference-pt {value}: say which detector it is for, as NAME=PATH")
            name, path = specs[0].name, value
        if name not in {s.name for s in specs}:
            raise SystemExit(f"--reference-pt {value}: no detector named {name!r} is benchmarked")
        out.append(ReferenceSpec(name, "ultralytics", Path(path)))
    return out


def _ultralytics_predict(ref: ReferenceSpec, spec: DetectorSpec) -> Callable[[Path], Any]:
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO

    model = YOLO(str(ref.path))
    t = spec.card.thresholds

    def predict(image: Path) -> Any:
        return model.predict(
            source=str(image),
            imgsz=list(spec.input_size),
            conf=t.conf,
            iou=t.iou,
            max_det=t.max_det,
            device="cpu",
            verbose=False,
        )

    return predict


def _yolov5_predict(ref: ReferenceSpec, spec: DetectorSpec) -> Callable[[Path], Any]:
    if importlib.util.find_spec("pkg_resources") is None:  # yolov5 7.0 imports it only for parse_version
        from packaging.version import parse

        sys.modules["pkg_resources"] = types.SimpleNamespace(parse_version=parse)  # type: ignore[assignment]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import yolov5

    # torch >= 2.6 refuses pickled module trees by default; the checkpoint's SHA-256 was checked against the
    # model card in default_references(), so the package's own loader may unpickle it (this call only).
    previous = os.environ.get(_NO_WEIGHTS_ONLY)
    os.environ[_NO_WEIGHTS_ONLY] = "1"
    try:
        model = yolov5.load(str(ref.path), device="cpu")
    finally:
        if previous is None:
            os.environ.pop(_NO_WEIGHTS_ONLY, None)
        else:
            os.environ[_NO_WEIGHTS_ONLY] = previous
    t = spec.card.thresholds
    model.conf, model.iou, model.max_det = t.conf, t.iou, t.max_det
    size = max(spec.input_size)

    def predict(image: Path) -> Any:
        return model(str(image), size=size)

    return predict


def measure_reference(
    ref: ReferenceSpec,
    spec: DetectorSpec,
    images: list[TestImage],
    budget: Budget,
    service_post: Callable[[str, TestImage], None] | None = None,
) -> dict[str, Any]:
    """p50/p95 of the reference pipeline on each test image file, interleaved with service requests.

    With `service_post` (the running server), reference call and `POST /v1/detect` alternate, so
    the speed-up compares two series that saw the same background load.
    """
    result: dict[str, Any] = {"detector": ref.detector, "kind": ref.kind, "weights": str(ref.path), "images": {}}
    try:
        import torch

        result["torch_threads"] = torch.get_num_threads()
        predict = (_yolov5_predict if ref.kind == "yolov5" else _ultralytics_predict)(ref, spec)
        for image in images:
            fns: dict[str, Callable[[], object]] = {"reference": lambda p=image.path: predict(p)}
            if service_post is not None:
                fns["service"] = lambda i=image: service_post(ref.detector, i)
            timed = time_interleaved(fns, budget.warmup, budget.reference_iters, budget.max_seconds)
            row = {name: summarize(samples).as_dict() for name, samples in timed.items()}
            if "service" in row:
                row["speedup"] = ratio(row["reference"]["p50_ms"], row["service"]["p50_ms"])
            result["images"][image.name] = row
    except Exception as exc:  # torch missing, a broken checkpoint: report it, keep the rest of the run
        result["error"] = f"{type(exc).__name__}: {exc}"
    return result
