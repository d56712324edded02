"""mAP through the service's ONNX inference core agrees with Ultralytics' own `val` (within 0.01).

Ultralytics validates .pt models with rectangular batches padded by half a stride, the service
runs the square static ONNX input, so `rect=False` makes both see the same letterboxed pixels.
The generated images are 64x48 and the model input 64, so neither side resizes (Ultralytics'
loader downsizes with INTER_AREA, the service, like Ultralytics' predict, with INTER_LINEAR),
and the shapes keep off the image border (Ultralytics scores boxes unclipped in letterbox space,
the service clips them to the image, which changes the IoU of objects cut by the border).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from training.evaluate import evaluate, open_detector

pytestmark = pytest.mark.slow


def test_onnx_eval_agrees_with_ultralytics_val(trained: Path, release: Path, shapes_data: Path, tmp_path: Path) -> None:
    from ultralytics import YOLO

    theirs = YOLO(str(trained)).val(
        data=str(shapes_data),
        imgsz=64,
        batch=8,
        device="cpu",
        plots=False,
        rect=False,
        workers=0,
        verbose=False,
        project=str(tmp_path),
    )
    ours = evaluate(open_detector(release, "fp32"), shapes_data)
    assert theirs.box.map50 > 0.2, "the test needs a model that detects something"
    assert ours.map50 == pytest.approx(theirs.box.map50, abs=0.01)
    assert ours.map50_95 == pytest.approx(theirs.box.map, abs=0.01)
