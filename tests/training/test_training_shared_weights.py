"""Tests on the real pretrained weights in ../shared (skipped with a reason when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import need

from training.evaluate import open_detector

SHARED = Path(os.environ.get("STADTBLICK_SHARED", "../shared"))
YOLOV5_PT = SHARED / "weights" / "yolov5n.pt"
COCO_SAFETENSORS = SHARED / "weights" / "yolov5n_coco.safetensors"

pytestmark = [pytest.mark.slow, pytest.mark.shared]


@pytest.mark.skipif(not YOLOV5_PT.is_file(), reason=f"{YOLOV5_PT} not present (set STADTBLICK_SHARED)")
def test_yolov5_import_detects_people_and_bus(tmp_path: Path) -> None:
    need("yolov5")
    from training.cli import main

    assert main(["import-yolov5", str(YOLOV5_PT), "--name", "coco", "--out", str(tmp_path)]) == 0
    detector = open_detector(tmp_path / "coco")
    assert detector.layout.value == "yolov5"
    assert tuple(detector.session.get_outputs()[0].shape) == (1, 25200, 85)
    card = detector.card
    assert len(card.classes) == 80 and card.classes[5].label_de == "Bus"
    assert (card.thresholds.conf, card.thresholds.iou) == (0.25, 0.45)
    image = cv2.cvtColor(cv2.imread(str(SHARED / "samples" / "bus.jpg")), cv2.COLOR_BGR2RGB)
    names = [card.class_names[c] for c in detector.detect(image).class_id]
    assert names.count("person") >= 3 and "bus" in names


@pytest.mark.skipif(not COCO_SAFETENSORS.is_file(), reason=f"{COCO_SAFETENSORS} not present")
def test_coco_init_is_what_the_trainer_trains(shapes_data: Path, tmp_path: Path) -> None:
    """342 tensors transfer, and the trainer's model holds exactly them when training starts."""
    from training.finetune import COCO_TRANSFER_EXPECTED, finetune
    from training.recipe import Recipe
    from training.train_run import TrainJob

    recipe = Recipe(arch="yolov5nu.yaml", imgsz=64, epochs=1, batch=16, train_args={"mosaic": 0.0})
    result = finetune(TrainJob(shapes_data, ["square", "circle"], recipe, "coco", tmp_path, "coco", "cpu", 0, SHARED))
    assert result.transferred == COCO_TRANSFER_EXPECTED
    assert result.verified_in_trainer == COCO_TRANSFER_EXPECTED
    assert result.best.is_file() and np.isfinite(result.duration_s)
