"""Detection metrics in NumPy, computed the way Ultralytics' `val` does.

Same IoU matching (confidence-ordered, per threshold 0.50:0.05:0.95), same AP (precision envelope,
101-point interpolation, trapezoidal integral), same smoothed mean-F1 curve: so a number from
`stadtblick train evaluate` can be compared with a number from the Ultralytics log.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.inference.nms import box_iou

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
CONF_GRID = np.linspace(0, 1, 1000)
EPS = 1e-16


def greedy_matches(iou: np.ndarray, threshold: float) -> np.ndarray:
    """(label, prediction) index pairs: highest IoU first, each label and prediction used once."""
    matches = np.argwhere(iou >= threshold)
    if len(matches) > 1:
        matches = matches[iou[matches[:, 0], matches[:, 1]].argsort()[::-1]]
        matches = matches[np.unique(matches[:, 1], return_index=True)[1]]
        matches = matches[np.unique(matches[:, 0], return_index=True)[1]]
    return matches


def match_predictions(
    pred_xyxy: np.ndarray,
    pred_cls: np.ndarray,
    true_xyxy: np.ndarray,
    true_cls: np.ndarray,
    thresholds: np.ndarray = IOU_THRESHOLDS,
) -> np.ndarray:
    """(num_pred, num_thresholds) bool: is the prediction a true positive at each IoU threshold.

    COCO-style, as Ultralytics >= 8.4 matches: predictions in descending confidence order (the
    order `OnnxDetector.detect` returns) each claim the best still unclaimed box of their class.
    """
    correct = np.zeros((len(pred_xyxy), len(thresholds)), dtype=bool)
    if len(pred_xyxy) == 0 or len(true_xyxy) == 0:
        return correct
    iou = box_iou(true_xyxy, pred_xyxy) * (true_cls[:, None] == pred_cls[None, :])
    matched = np.zeros((len(true_xyxy), len(thresholds)), dtype=bool)
    cols = np.arange(len(thresholds))
    for j in np.flatnonzero((iou >= thresholds.min()).any(0)):
        available = np.where(matched, 0.0, iou[:, j, None])
        k = available.argmax(0)
        correct[j] = available[k, cols] >= thresholds
        matched[k, cols] |= correct[j]
    return correct


def match_centres(
    pred_xyxy: np.ndarray, pred_cls: np.ndarray, true_xyxy: np.ndarray, true_cls: np.ndarray
) -> np.ndarray:
    """(num_pred, 1) bool: the prediction's centre lies inside a still unclaimed box of its class.

    The lenient "did it point at the pothole" score of street-level tests, where labelled boxes of
    worn or water-filled potholes are loose and IoU 0.5 punishes a correct but tighter box.
    """
    return (centre_claims(pred_xyxy, pred_cls, true_xyxy, true_cls) >= 0)[:, None]


def centre_claims(
    pred_xyxy: np.ndarray, pred_cls: np.ndarray, true_xyxy: np.ndarray, true_cls: np.ndarray
) -> np.ndarray:
    """(num_pred,) index of the labelled box each prediction claims by its centre, -1 for none.

    Predictions in descending confidence order each claim the still unclaimed box of their class
    that contains their centre, the one whose centre is nearest.
    """
    claims = np.full(len(pred_xyxy), -1, dtype=np.int64)
    if len(pred_xyxy) == 0 or len(true_xyxy) == 0:
        return claims
    centres = (pred_xyxy[:, :2] + pred_xyxy[:, 2:]) / 2
    true_centres = (true_xyxy[:, :2] + true_xyxy[:, 2:]) / 2
    claimed = np.zeros(len(true_xyxy), dtype=bool)
    for j, (c, cls) in enumerate(zip(centres, pred_cls, strict=True)):
        inside = (true_xyxy[:, :2] <= c).all(1) & (c <= true_xyxy[:, 2:]).all(1) & (true_cls == cls) & ~claimed
        if inside.any():
            k = np.flatnonzero(inside)[np.linalg.norm(true_centres[inside] - c, axis=1).argmin()]
            claimed[k], claims[j] = True, k
    return claims


def compute_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the precision envelope; precision drops to 0 right after the highest recall."""
    mrec = np.concatenate(([0.0], recall, [recall[-1] if len(recall) else 1.0], [1.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(np.concatenate(([1.0], precision, [0.0], [0.0])))))
    x = np.linspace(0, 1, 101)
    return float(np.trapezoid(np.interp(x, mrec, mpre), x))


def smooth(y: np.ndarray, fraction: float = 0.05) -> np.ndarray:
    """Box filter, as Ultralytics smooths the F1 curve before picking its maximum."""
    nf = round(len(y) * fraction * 2) // 2 + 1
    pad = np.ones(nf // 2)
    return np.convolve(np.concatenate((pad * y[0], y, pad * y[-1])), np.ones(nf) / nf, mode="valid")


@dataclass
class APResult:
    """Per class (index = class id; NaN where the split has no labels of that class)."""

    ap: np.ndarray  # (nc, 10) AP at each IoU threshold
    p_curve: np.ndarray  # (nc, 1000) precision over CONF_GRID at IoU 0.5
    r_curve: np.ndarray  # (nc, 1000)
    labels: np.ndarray  # (nc,) label counts
    best_conf: float  # confidence with the best smoothed mean F1
    best_f1: float

    @property
    def present(self) -> np.ndarray:
        return self.labels > 0

    @property
    def map50(self) -> float:
        return float(self.ap[self.present, 0].mean()) if self.present.any() else 0.0

    @property
    def map50_95(self) -> float:
        return float(self.ap[self.present].mean()) if self.present.any() else 0.0

    @property
    def f1_curve(self) -> np.ndarray:
        return 2 * self.p_curve * self.r_curve / (self.p_curve + self.r_curve + EPS)


def ap_per_class(tp: np.ndarray, conf: np.ndarray, pred_cls: np.ndarray, target_cls: np.ndarray, nc: int) -> APResult:
    """AP and PR curves from all predictions of a split (tp from `match_predictions`)."""
    order = np.argsort(-conf, kind="stable")
    tp, conf, pred_cls = tp[order], conf[order], pred_cls[order]
    labels = np.bincount(target_cls.astype(np.int64), minlength=nc)[:nc]
    ap = np.zeros((nc, tp.shape[1]))
    p_curve, r_curve = np.zeros((nc, len(CONF_GRID))), np.zeros((nc, len(CONF_GRID)))
    for c in range(nc):
        sel = pred_cls == c
        if labels[c] == 0 or not sel.any():
            continue
        tpc, fpc = tp[sel].cumsum(0), (1 - tp[sel]).cumsum(0)
        recall = tpc / (labels[c] + EPS)
        precision = tpc / (tpc + fpc)
        r_curve[c] = np.interp(-CONF_GRID, -conf[sel], recall[:, 0], left=0)
        p_curve[c] = np.interp(-CONF_GRID, -conf[sel], precision[:, 0], left=1)
        ap[c] = [compute_ap(recall[:, j], precision[:, j]) for j in range(tp.shape[1])]
    present = labels > 0
    f1 = 2 * p_curve * r_curve / (p_curve + r_curve + EPS)
    mean_f1 = smooth(f1[present].mean(0), 0.1) if present.any() else np.zeros(len(CONF_GRID))
    best = int(mean_f1.argmax())
    ap[~present] = np.nan
    return APResult(ap, p_curve, r_curve, labels, float(CONF_GRID[best]), float(mean_f1[best]))


def confusion_matrix(
    pred_xyxy: np.ndarray,
    pred_cls: np.ndarray,
    true_xyxy: np.ndarray,
    true_cls: np.ndarray,
    nc: int,
    iou_threshold: float = 0.45,
) -> np.ndarray:
    """(nc+1, nc+1) counts, rows = predicted, columns = true; the last row/column is background."""
    m = np.zeros((nc + 1, nc + 1), dtype=np.int64)
    matches = (
        greedy_matches(box_iou(true_xyxy, pred_xyxy), iou_threshold)
        if len(pred_xyxy) and len(true_xyxy)
        else np.zeros((0, 2), dtype=np.int64)
    )
    for t, p in matches:
        m[pred_cls[p], true_cls[t]] += 1
    np.add.at(m, (nc, np.delete(true_cls, matches[:, 0])), 1)
    np.add.at(m, (np.delete(pred_cls, matches[:, 1]), nc), 1)
    return m
