"""Rebuilding a trainable checkpoint from a shipped ONNX folder: the recovered network computes
what the shipped graph computes, and training mode does not change it at the first step."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import need

from service.inference.preprocess import letterbox, to_tensor

SHARED = Path(os.environ.get("STADTBLICK_SHARED", "../shared"))
SAMPLES = sorted((SHARED / "samples").glob("*.jpg"))
ROAD = Path("weights/road_damage")
GRAFFITI = Path("weights/graffiti")
pytestmark = pytest.mark.skipif(len(SAMPLES) < 2, reason=f"{SHARED}/samples not present (set STADTBLICK_SHARED)")


def _batch(imgsz: int) -> np.ndarray:
    rgb = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in SAMPLES[:2]]
    return np.concatenate([to_tensor(letterbox(im, (imgsz, imgsz))[0]) for im in rgb])


def test_the_recovered_network_matches_the_shipped_graph_in_both_modes(tmp_path: Path) -> None:
    need("torch")
    import onnxruntime as ort
    import torch
    from ultralytics import YOLO

    from training.recover import recover

    r = recover(ROAD, SAMPLES[:2], tmp_path / "road.pt")
    assert (r.imgsz, r.calibration_images) == (512, 2)
    assert r.batch_norms > 50
    batch = _batch(r.imgsz)
    (shipped,) = ort.InferenceSession(str(ROAD / "model.onnx")).run(None, {"images": batch[:1]})
    model = YOLO(str(r.out)).model.float().eval()
    with torch.no_grad():
        decoded, raw = model(torch.from_numpy(batch))
        np.testing.assert_allclose(decoded[:1, 4:].numpy(), shipped[:, 4:], atol=2e-3)  # class scores
        np.testing.assert_allclose(decoded[:1, :4].numpy(), shipped[:, :4], atol=0.5)  # boxes, px
        # the batch norms were calibrated on exactly this batch, so its batch statistics are theirs
        trained = model.train()(torch.from_numpy(batch))
    for key in ("boxes", "scores"):  # the head's raw distance bins and class logits
        np.testing.assert_allclose(trained[key].numpy(), raw[key].numpy(), atol=2e-2)
    assert model.names == {0: "pothole", 1: "crack"}


def test_a_composed_graph_gives_the_network_of_the_branch_asked_for(tmp_path: Path) -> None:
    need("torch")
    from training.recover import recover

    r = recover(GRAFFITI, SAMPLES[:2], tmp_path / "tags.pt", branch="specialist")
    assert r.imgsz == 512
    with pytest.raises(ValueError, match=r"branches here: \['base', 'specialist'\]"):
        recover(GRAFFITI, SAMPLES[:2], tmp_path / "x.pt", branch="tags")
    with pytest.raises(ValueError, match=r"does not fit|fused convolution"):
        recover(GRAFFITI, SAMPLES[:2], tmp_path / "x.pt", branch="base", arch="yolov5su.yaml")
