"""Output decoding and NMS on hand-made tensors: each layout, thresholds, class-aware NMS."""

from __future__ import annotations

import numpy as np
import pytest

from service.inference.detections import Detections
from service.inference.nms import non_max_suppression
from service.inference.postprocess import LayoutError, OutputLayout, boxes_from_output, infer_layout
from service.inference.preprocess import letterbox


def test_infer_layout_from_shapes() -> None:
    assert infer_layout((1, 84, 8400), 80) is OutputLayout.YOLOV8
    assert infer_layout((1, 25200, 85), 80) is OutputLayout.YOLOV5
    assert infer_layout((1, 300, 6), 80) is OutputLayout.END2END
    # one-class YOLOv5 also ends in 6: only the export metadata tells it is end-to-end
    assert infer_layout((1, 25200, 6), 1) is OutputLayout.YOLOV5
    assert infer_layout((1, 300, 6), 1, end2end_hint=True) is OutputLayout.END2END
    with pytest.raises(LayoutError, match="fits no YOLO layout"):
        infer_layout((1, 10, 10), 80)


def test_yolov8_decode_picks_best_class_above_threshold() -> None:
    out = np.zeros((1, 4 + 3, 3), np.float32)
    out[0, :4, 0] = [50, 50, 20, 10]  # cx, cy, w, h
    out[0, 4:, 0] = [0.1, 0.9, 0.3]
    out[0, :4, 1] = [10, 10, 4, 4]
    out[0, 4:, 1] = [0.2, 0.1, 0.1]  # below threshold
    dets = boxes_from_output(out, OutputLayout.YOLOV8, conf=0.25)
    assert len(dets) == 1
    np.testing.assert_allclose(dets.xyxy[0], [40, 45, 60, 55])
    assert dets.class_id[0] == 1 and dets.confidence[0] == pytest.approx(0.9)
    multi = boxes_from_output(out, OutputLayout.YOLOV8, conf=0.25, multi_label=True)
    assert sorted(multi.class_id.tolist()) == [1, 2]


def test_yolov5_decode_multiplies_objectness() -> None:
    out = np.zeros((1, 2, 5 + 2), np.float32)
    out[0, 0] = [50, 50, 20, 20, 0.5, 0.9, 0.1]  # 0.45 for class 0
    out[0, 1] = [10, 10, 4, 4, 0.2, 1.0, 1.0]  # objectness below threshold
    dets = boxes_from_output(out, OutputLayout.YOLOV5, conf=0.25)
    assert len(dets) == 1 and dets.class_id[0] == 0
    assert dets.confidence[0] == pytest.approx(0.45)


def test_end2end_decode_filters_rows() -> None:
    out = np.array([[[1, 2, 3, 4, 0.8, 5], [0, 0, 1, 1, 0.1, 2]]], np.float32)
    dets = boxes_from_output(out, OutputLayout.END2END, conf=0.25)
    assert len(dets) == 1 and dets.class_id[0] == 5
    np.testing.assert_allclose(dets.xyxy[0], [1, 2, 3, 4])


def test_nms_is_class_aware_and_caps_max_det() -> None:
    dets = Detections(
        np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60]], np.float32),
        np.array([0.9, 0.8, 0.7, 0.6], np.float32),
        np.array([0, 0, 1, 0]),
    )
    kept = non_max_suppression(dets, iou=0.5, max_det=10)
    # box 1 overlaps box 0 of the same class; box 2 has the same place but another class
    assert kept.confidence.tolist() == pytest.approx([0.9, 0.7, 0.6])
    assert len(non_max_suppression(dets, iou=0.5, max_det=2)) == 2
    assert len(non_max_suppression(Detections(), iou=0.5, max_det=2)) == 0


def test_merge_nms_averages_one_objects_boxes_by_score() -> None:
    # one object seen twice (IoU 0.6: both survive NMS at 0.7), a neighbour of another class,
    # and a second object of class 0 far away
    dets = Detections(
        np.array([[0, 0, 100, 100], [0, 0, 100, 60], [0, 0, 100, 100], [200, 0, 300, 100]], np.float32),
        np.array([0.6, 0.3, 0.5, 0.2], np.float32),
        np.array([0, 0, 1, 0]),
    )
    assert len(non_max_suppression(dets, iou=0.7, max_det=10)) == 4
    merged = non_max_suppression(dets, iou=0.7, max_det=10, merge_iou=0.5)
    assert merged.confidence.tolist() == pytest.approx([0.6, 0.5, 0.2])  # the object keeps its best score
    np.testing.assert_allclose(merged.xyxy[0], [0, 0, 100, (0.6 * 100 + 0.3 * 60) / 0.9], rtol=1e-6)
    np.testing.assert_allclose(merged.xyxy[1:], dets.xyxy[2:])  # other class, other place: untouched
    # the lower IoU suppresses: at 0.45 the card's NMS already removes the second view, and still merges it
    served = non_max_suppression(dets, iou=0.45, max_det=10, merge_iou=0.5)
    np.testing.assert_allclose(served.xyxy, merged.xyxy)
    # a zero-area box still stands for itself instead of becoming NaN
    point = Detections(np.array([[5, 5, 5, 5]], np.float32), np.array([0.4], np.float32), np.array([0]))
    np.testing.assert_allclose(non_max_suppression(point, iou=0.7, max_det=10, merge_iou=0.5).xyxy, [[5, 5, 5, 5]])


def test_letterbox_round_trip_maps_boxes_back() -> None:
    image = np.zeros((300, 500, 3), np.uint8)
    padded, box = letterbox(image, (128, 160))
    assert padded.shape == (128, 160, 3)
    assert padded[0, 0].tolist() == [114, 114, 114]  # grey padding above the image
    original = np.array([[100, 50, 400, 250]], np.float32)
    in_model = original.copy()
    in_model[:, [0, 2]] = in_model[:, [0, 2]] * box.gain_x + box.pad_left
    in_model[:, [1, 3]] = in_model[:, [1, 3]] * box.gain_y + box.pad_top
    np.testing.assert_allclose(box.to_original(in_model), original, atol=1e-3)
    outside = np.array([[-20, -20, 999, 999]], np.float32)
    np.testing.assert_allclose(box.to_original(outside), [[0, 0, 500, 300]])
