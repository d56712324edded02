"""Class-aware non-maximum suppression (OpenCV's batched NMS, vectorised in C++)."""

from __future__ import annotations

import cv2
import numpy as np

from service.inference.detections import Detections

MAX_NMS_CANDIDATES = 30_000  # same cap as Ultralytics: bounds the cost on degenerate outputs


def non_max_suppression(dets: Detections, iou: float, max_det: int) -> Detections:
    """Greedy NMS per class, highest confidence first; keeps at most `max_det` boxes."""
    if len(dets) == 0:
        return dets
    if len(dets) > MAX_NMS_CANDIDATES:
        dets = dets[np.argsort(-dets.confidence, kind="stable")[:MAX_NMS_CANDIDATES]]
    xywh = np.concatenate([dets.xyxy[:, :2], dets.xyxy[:, 2:] - dets.xyxy[:, :2]], axis=1)
    keep = cv2.dnn.NMSBoxesBatched(
        xywh.astype(np.float64), dets.confidence.astype(np.float32), dets.class_id.astype(np.int32), 0.0, iou
    )
    keep = np.asarray(keep, dtype=np.int64).reshape(-1)
    keep = keep[np.argsort(-dets.confidence[keep], kind="stable")][:max_det]
    return dets[keep]
