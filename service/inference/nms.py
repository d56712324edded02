"""Class-aware non-maximum suppression (OpenCV's batched NMS, vectorised in C++), optionally
merging each kept box with the boxes it suppressed."""

from __future__ import annotations

import cv2
import numpy as np

from service.inference.detections import Detections

MAX_NMS_CANDIDATES = 30_000  # same cap as Ultralytics: bounds the cost on degenerate outputs


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N, 4) and (M, 4) xyxy boxes -> (N, M)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(2)
    area_a = (a[:, 2:] - a[:, :2]).clip(0).prod(1)
    area_b = (b[:, 2:] - b[:, :2]).clip(0).prod(1)
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-7)


def non_max_suppression(dets: Detections, iou: float, max_det: int, merge_iou: float | None = None) -> Detections:
    """Greedy NMS per class, highest confidence first; keeps at most `max_det` boxes.

    With `merge_iou` (a model whose graph sees the image several times, mirrored or rescaled,
    and so proposes one object several times with slightly different boxes) boxes of one class
    overlapping by more than `merge_iou` are one object: suppression runs at the lower of the
    two IoUs, and each kept box becomes the score-weighted mean of the candidates overlapping it
    by more than `merge_iou`, keeping its own (the highest) score. This is YOLOv5's merge-NMS.
    """
    if len(dets) == 0:
        return dets
    if len(dets) > MAX_NMS_CANDIDATES:
        dets = dets[np.argsort(-dets.confidence, kind="stable")[:MAX_NMS_CANDIDATES]]
    xywh = np.concatenate([dets.xyxy[:, :2], dets.xyxy[:, 2:] - dets.xyxy[:, :2]], axis=1)
    threshold = iou if merge_iou is None else min(iou, merge_iou)
    keep = cv2.dnn.NMSBoxesBatched(
        xywh.astype(np.float64), dets.confidence.astype(np.float32), dets.class_id.astype(np.int32), 0.0, threshold
    )
    keep = np.asarray(keep, dtype=np.int64).reshape(-1)
    keep = keep[np.argsort(-dets.confidence[keep], kind="stable")][:max_det]
    kept = dets[keep]
    if merge_iou is None:
        return kept
    merged = kept.xyxy.astype(np.float64)
    for c in np.unique(kept.class_id):  # per class: a far smaller IoU matrix than all against all
        k, m = kept.class_id == c, dets.class_id == c
        weights = (box_iou(kept.xyxy[k], dets.xyxy[m]) > merge_iou) * dets.confidence[m]
        total = weights.sum(axis=1, keepdims=True)  # 0 only for a zero-area box: it stays as it is
        merged[k] = np.where(total > 0, (weights @ dets.xyxy[m]) / np.maximum(total, 1e-12), merged[k])
    return Detections(merged.astype(np.float32), kept.confidence, kept.class_id, data=kept.data)
