"""The NumPy metrics reproduce Ultralytics' `ap_per_class` and pick the best-F1 confidence."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import need

from training.metrics import ap_per_class, confusion_matrix, match_predictions


def test_ap_matches_ultralytics_on_random_predictions() -> None:
    metrics = need("ultralytics.utils.metrics")
    rng = np.random.default_rng(0)
    tp = rng.random((500, 10)) < np.linspace(0.8, 0.2, 10)
    conf, pred_cls, target = rng.random(500), rng.integers(0, 3, 500), rng.integers(0, 3, 300)
    ours = ap_per_class(tp, conf, pred_cls, target, nc=3)
    theirs = metrics.ap_per_class(tp, conf, pred_cls, target)
    ap = theirs[5]
    np.testing.assert_allclose(ours.ap, ap, atol=1e-9)
    assert ours.map50 == pytest.approx(ap[:, 0].mean())
    assert ours.map50_95 == pytest.approx(ap.mean())


def test_perfect_predictions_give_ap_one_and_a_confident_threshold() -> None:
    boxes = np.array([[0, 0, 10, 10], [20, 20, 40, 40]], np.float32)
    cls = np.array([0, 1])
    tp = match_predictions(boxes, cls, boxes, cls)
    assert tp.all()
    noise = np.zeros((1, 10), bool)
    result = ap_per_class(np.vstack([tp, noise]), np.array([0.9, 0.8, 0.3]), np.array([0, 1, 0]), cls, nc=2)
    assert result.map50 == pytest.approx(0.995, abs=1e-3)  # Ultralytics integrates to 0.995 for a perfect curve
    assert 0.3 < result.best_conf <= 0.8  # above the false positive, at or below the true ones


def test_confusion_matrix_counts_misses_and_false_alarms() -> None:
    truth = np.array([[0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    preds = np.array([[0, 0, 10, 10], [80, 80, 90, 90]], np.float32)
    m = confusion_matrix(preds, np.array([1, 0]), truth, np.array([0, 1]), nc=2)
    assert m[1, 0] == 1  # square predicted as circle
    assert m[2, 1] == 1  # circle missed (background row)
    assert m[0, 2] == 1  # false alarm (background column)
