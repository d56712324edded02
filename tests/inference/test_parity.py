"""The inference core must reproduce Ultralytics' own predictions on the same model and image."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import TINY_INPUT, need, shared_path, synthetic_photo

from service.inference import Detections, DetectParams, OnnxDetector
from service.inference.card import ClassLabel, ModelCard, ModelFile

PARAMS = DetectParams(conf=0.25, iou=0.45, max_det=300)


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    iou = inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9)
    identical = np.abs(a[:, None, :] - b[None, :, :]).max(axis=2) < 1e-3  # also degenerate zero-area boxes
    return np.where(identical, 1.0, iou)


def assert_same_detections(ours: Detections, ref: Detections) -> None:
    """One-to-one match: same class, IoU > 0.99, confidence within 1e-3 (greedy, best reference first)."""
    assert len(ours) == len(ref), f"{len(ours)} boxes vs Ultralytics' {len(ref)}"
    if not len(ref):
        return
    iou = pairwise_iou(ref.xyxy, ours.xyxy)
    cost = (1 - iou) + np.abs(ref.confidence[:, None] - ours.confidence[None, :])
    cost[ref.class_id[:, None] != ours.class_id[None, :]] = np.inf
    used: set[int] = set()
    for i in np.argsort(-ref.confidence, kind="stable"):
        row = cost[i].copy()
        row[list(used)] = np.inf
        j = int(row.argmin())
        assert np.isfinite(row[j]), f"no box of class {ref.class_id[i]} left to match reference box {i}"
        assert iou[i, j] > 0.99, f"best partner of reference box {ref.xyxy[i]} is {ours.xyxy[j]}"
        assert abs(ours.confidence[j] - ref.confidence[i]) < 1e-3
        used.add(j)


def card_for(name: str, classes: list[str], size: tuple[int, int]) -> ModelCard:
    return ModelCard(
        name=name,
        version="test",
        classes=[ClassLabel(id=i, name=c, label_de=c, label_en=c) for i, c in enumerate(classes)],
        input_size=size,
        files={"fp32": ModelFile(path="model.onnx", sha256="0" * 64)},
    )


@pytest.mark.parametrize(("fixture", "layout"), [("tiny_yolo11_onnx", "yolov8"), ("tiny_yolo26_onnx", "end2end")])
def test_ultralytics_layouts_match_ultralytics_predict(
    fixture: str, layout: str, request: pytest.FixtureRequest
) -> None:
    from ultralytics import YOLO

    onnx_path: Path = request.getfixturevalue(fixture)
    ref_model = YOLO(str(onnx_path), task="detect")
    ours = OnnxDetector(onnx_path, card_for("tiny", [f"c{i}" for i in range(80)], TINY_INPUT))
    assert ours.layout.value == layout
    total = 0
    for seed, (h, w) in enumerate([(240, 320), (300, 200), (97, 411), (128, 160)]):
        rgb = synthetic_photo(h, w, seed)
        result = ref_model.predict(
            rgb[..., ::-1].copy(), imgsz=TINY_INPUT, conf=PARAMS.conf, iou=PARAMS.iou, max_det=300, verbose=False
        )[0]
        ref = Detections(
            result.boxes.xyxy.numpy(), result.boxes.conf.numpy(), result.boxes.cls.numpy().astype(np.int64)
        )
        mine = ours.detect(rgb, PARAMS)
        assert_same_detections(mine, ref)
        total += len(ref)
    assert total > 20, "the test model should produce boxes, or the comparison proves nothing"


@pytest.fixture(scope="module")
def coco_yolov5_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("yolov5")
    from training.yolov5_import import import_yolov5

    checkpoint = shared_path("weights", "yolov5n.pt")
    return import_yolov5(checkpoint, "coco", tmp_path_factory.mktemp("coco"))


def test_yolov5_layout_matches_ultralytics_yolov5_pipeline(coco_yolov5_folder: Path) -> None:
    """Reference: the YOLOv5 repository's own letterbox, ONNX backend, NMS and box scaling."""
    import torch
    from yolov5.models.common import DetectMultiBackend
    from yolov5.utils.augmentations import letterbox
    from yolov5.utils.general import non_max_suppression, scale_boxes

    from service.inference.card import read_card

    card = read_card(coco_yolov5_folder)
    ours = OnnxDetector(coco_yolov5_folder / "model.onnx", card)
    assert ours.layout.value == "yolov5"
    backend = DetectMultiBackend(str(coco_yolov5_folder / "model.onnx"), device=torch.device("cpu"))
    total = 0
    for name in ("bus.jpg", "zidane.jpg"):
        bgr = cv2.imread(str(shared_path("samples", name)))
        im = letterbox(bgr, 640, stride=32, auto=False)[0].transpose(2, 0, 1)[::-1]
        x = torch.from_numpy(np.ascontiguousarray(im)).float()[None] / 255
        pred = non_max_suppression(backend(x), PARAMS.conf, PARAMS.iou, max_det=300)[0]
        pred[:, :4] = scale_boxes(x.shape[2:], pred[:, :4], bgr.shape).round()
        ref = Detections(pred[:, :4].numpy(), pred[:, 4].numpy(), pred[:, 5].numpy().astype(np.int64))
        mine = ours.detect(bgr[..., ::-1].copy(), PARAMS)
        mine = Detections(np.round(mine.xyxy), mine.confidence, mine.class_id)
        assert_same_detections(mine, ref)
        total += len(ref)
    assert total >= 5
