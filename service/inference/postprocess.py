"""Post-processing of the raw ONNX output layouts of the YOLO families into candidate boxes
(`decode` is kept for image bytes -> pixels, `service.imaging`).

Three layouts exist in the wild:

* ``yolov8``  -- YOLOv8/YOLO11 and Ultralytics "u" models: ``(1, 4 + nc, N)``, boxes as
  centre/size, one sigmoid score per class, no objectness.
* ``yolov5``  -- original YOLOv5 exports: ``(1, N, 5 + nc)``, centre/size, objectness, class
  scores; the detection score is objectness x class score.
* ``end2end`` -- YOLO26/YOLOv10 style NMS-free heads: ``(1, K, 6)`` rows of
  ``x1, y1, x2, y2, score, class``.
"""

from __future__ import annotations

from enum import Enum

import numpy as np

from service.inference.detections import Detections


class OutputLayout(str, Enum):
    YOLOV8 = "yolov8"
    YOLOV5 = "yolov5"
    END2END = "end2end"


class LayoutError(ValueError):
    """The model output does not match any known layout for the declared classes."""


def infer_layout(shape: tuple[int, ...], num_classes: int, end2end_hint: bool = False) -> OutputLayout:
    """Pick the layout from the output shape; `end2end_hint` comes from the export metadata."""
    if len(shape) != 3:
        raise LayoutError(f"expected a 3-d detection output, got shape {tuple(shape)}")
    _, a, b = shape
    if end2end_hint and b == 6:
        return OutputLayout.END2END
    if a == 4 + num_classes:
        return OutputLayout.YOLOV8
    if b == 5 + num_classes:
        return OutputLayout.YOLOV5
    if b == 6:
        return OutputLayout.END2END
    raise LayoutError(f"output shape {tuple(shape)} fits no YOLO layout with {num_classes} classes")


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    half = xywh[:, 2:4] / 2
    return np.concatenate([xywh[:, :2] - half, xywh[:, :2] + half], axis=1)


def boxes_from_output(
    output: np.ndarray,
    layout: OutputLayout,
    conf: float,
    multi_label: bool = False,
) -> Detections:
    """Turn the raw output of one image into candidates above `conf` (before NMS).

    `multi_label` keeps every class above the threshold per box, as Ultralytics does when
    validating; prediction keeps only the best class.
    """
    if layout is OutputLayout.END2END:
        rows = output[0]
        rows = rows[rows[:, 4] > conf]
        return Detections(rows[:, :4].astype(np.float32), rows[:, 4].astype(np.float32), rows[:, 5].astype(np.int64))
    if layout is OutputLayout.YOLOV8:
        rows = output[0].T
        boxes, scores = rows[:, :4], rows[:, 4:]
    else:
        rows = output[0]
        rows = rows[rows[:, 4] > conf]
        boxes, scores = rows[:, :4], rows[:, 5:] * rows[:, 4:5]
    if multi_label and scores.shape[1] > 1:
        idx, cls = np.nonzero(scores > conf)
        return Detections(
            xywh_to_xyxy(boxes[idx]).astype(np.float32),
            scores[idx, cls].astype(np.float32),
            cls.astype(np.int64),
        )
    cls = scores.argmax(axis=1)
    best = scores[np.arange(len(scores)), cls]
    keep = best > conf
    return Detections(
        xywh_to_xyxy(boxes[keep]).astype(np.float32),
        best[keep].astype(np.float32),
        cls[keep].astype(np.int64),
    )
