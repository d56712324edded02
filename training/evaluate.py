"""Evaluation of an exported detector through the service's own inference core.

What is scored is exactly what the service runs: `OnnxDetector.detect` on the ONNX file,
with Ultralytics' validation settings for mAP (conf 0.001, IoU 0.7, multi-label), and the
card's confidence threshold for the per-class precision/recall/F1 users will actually see.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from service.inference import Detections, DetectParams, OnnxDetector
from service.inference.card import read_card
from training.datasets.layout import load_yolo_dataset, read_yolo_label
from training.datasets.taxonomy import same_classes
from training.metrics import (
    IOU_THRESHOLDS,
    APResult,
    ap_per_class,
    confusion_matrix,
    match_predictions,
)

MAP_PARAMS = DetectParams(conf=0.001, iou=0.7, max_det=300, multi_label=True)


@dataclass
class ClassMetrics:
    name: str
    labels: int
    ap50: float | None
    ap50_95: float | None
    precision: float
    recall: float
    f1: float


@dataclass
class Evaluation:
    model: str
    data: str
    split: str
    images: int
    instances: int
    map50: float
    map50_95: float
    threshold: float
    best_f1_threshold: float
    best_f1: float
    ms_per_image: float
    background_images: int = 0
    background_false_positive_rate: float | None = None
    classes: list[ClassMetrics] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    def to_markdown(self) -> str:
        def f(v: float | None) -> str:
            return "–" if v is None else f"{v:.3f}"

        rows = "\n".join(
            f"| {c.name} | {c.labels} | {f(c.ap50)} | {f(c.ap50_95)} | {f(c.precision)} | {f(c.recall)} | {f(c.f1)} |"
            for c in self.classes
        )
        return (
            f"# Evaluation of `{self.model}`\n\n"
            f"Data: `{self.data}` (split `{self.split}`, {self.images} images, {self.instances} boxes)\n\n"
            f"| metric | value |\n| --- | --- |\n| mAP50 | {self.map50:.4f} |\n| mAP50-95 | {self.map50_95:.4f} |\n"
            f"| best-F1 confidence | {self.best_f1_threshold:.3f} (F1 {self.best_f1:.3f}) |\n"
            f"| speed | {self.ms_per_image:.1f} ms/image (pre-process, ONNX Runtime, NMS) |\n"
            f"| images without labels | {self.background_images} |\n"
            f"| ... with a detection at the threshold | {f(self.background_false_positive_rate)} |\n\n"
            f"Precision, recall and F1 at the card threshold conf >= {self.threshold:.3f}, IoU 0.5:\n\n"
            "| class | boxes | AP50 | AP50-95 | precision | recall | F1 |\n"
            "| --- | --- | --- | --- | --- | --- | --- |\n"
            f"{rows}\n\n![PR curve](pr_curve.png) ![F1 curve](f1_curve.png) ![confusion](confusion_matrix.png)\n"
        )


def open_detector(folder: Path, variant: str | None = None) -> OnnxDetector:
    """Load a detector folder (model.json + ONNX files) the way the service does."""
    card = read_card(folder)
    file = card.files[variant or card.serve_variant]
    return OnnxDetector(folder / file.path, card)


def read_labels(image: Path, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """YOLO label file -> pixel xyxy boxes and class ids."""
    cls, rows = read_yolo_label(image)
    xc, yc, w, h = rows[:, 0] * width, rows[:, 1] * height, rows[:, 2] * width, rows[:, 3] * height
    xyxy = np.stack([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], axis=1)
    return xyxy.astype(np.float32), cls


def _at_threshold(preds: list[Detections], truths: list[tuple[np.ndarray, np.ndarray]], nc: int, thr: float):
    tp, npred = np.zeros(nc), np.zeros(nc)
    matrix = np.zeros((nc + 1, nc + 1), dtype=np.int64)
    for det, (txyxy, tcls) in zip(preds, truths, strict=True):
        d = det[det.confidence >= thr]
        hit = match_predictions(d.xyxy, d.class_id, txyxy, tcls, IOU_THRESHOLDS[:1])[:, 0]
        np.add.at(tp, d.class_id[hit], 1)
        np.add.at(npred, d.class_id, 1)
        matrix += confusion_matrix(d.xyxy, d.class_id, txyxy, tcls, nc)
    return tp, npred, matrix


@dataclass
class ImageResult:
    """One image's detections (at the mAP settings) and its labelled boxes."""

    path: Path
    det: Detections
    true_xyxy: np.ndarray
    true_cls: np.ndarray
    seconds: float

    def hit(self, threshold: float) -> bool:
        """Whether anything is reported at `threshold`: a false alarm on an image without labels."""
        return bool((self.det.confidence >= threshold).any())


def predict(
    detector: OnnxDetector,
    data_yaml: Path,
    split: str = "val",
    track: Callable[..., Iterable] = lambda it, **_: it,
    tiling: bool | None = None,
    files: list[Path] | None = None,
) -> list[ImageResult]:
    """Run the detector over a split (or over `files`, images of the dataset) at the mAP settings
    (conf 0.001), image by image."""
    ds = load_yolo_dataset(data_yaml)
    names = detector.card.class_names
    if not same_classes(ds.names, names):
        raise ValueError(f"dataset classes {ds.names} differ from the model's {names}")
    files = ds.splits.get(split) or [] if files is None else files
    if not files:
        raise ValueError(f"split {split!r} of {data_yaml} has no images")
    return predict_files(detector, files, track, tiling)


def predict_files(
    detector: OnnxDetector,
    files: Iterable[Path],
    track: Callable[..., Iterable] = lambda it, **_: it,
    tiling: bool | None = None,
) -> list[ImageResult]:
    """Run the detector over images (labels beside them, YOLO layout) at the mAP settings."""
    params = replace(MAP_PARAMS, tiling=tiling)
    results = []
    for path in track(list(files), description=f"evaluating {detector.name}"):
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        began = time.perf_counter()
        det = detector.detect(image, params)
        seconds = time.perf_counter() - began
        results.append(ImageResult(path, det, *read_labels(path, image.shape[1], image.shape[0]), seconds))
    return results


def score(
    detector: OnnxDetector,
    results: list[ImageResult],
    data_yaml: Path,
    split: str = "val",
    threshold: float | None = None,
    use_best_f1: bool = False,
) -> tuple[Evaluation, APResult, np.ndarray]:
    """mAP over `results`, and precision/recall/F1 and background false alarms at one confidence.

    That confidence is `threshold`, else the best-F1 confidence when `use_best_f1`, else the
    card's default confidence. Also returns the AP curves and confusion matrix for the plots.
    """
    names = detector.card.class_names
    stats = [
        (match_predictions(r.det.xyxy, r.det.class_id, r.true_xyxy, r.true_cls), r.det.confidence, r.det.class_id)
        for r in results
    ]
    nc = len(names)
    target = np.concatenate([r.true_cls for r in results])
    ap = ap_per_class(*(np.concatenate(x) for x in zip(*stats, strict=True)), target, nc)
    thr = threshold if threshold is not None else ap.best_conf if use_best_f1 else detector.card.thresholds.conf
    tp, npred, matrix = _at_threshold([r.det for r in results], [(r.true_xyxy, r.true_cls) for r in results], nc, thr)
    background = [r.hit(thr) for r in results if not len(r.true_cls)]
    seconds = [r.seconds for r in results]
    result = Evaluation(
        model=str(detector.model_path),
        data=str(data_yaml),
        split=split,
        images=len(results),
        instances=len(target),
        map50=ap.map50,
        map50_95=ap.map50_95,
        threshold=thr,
        best_f1_threshold=ap.best_conf,
        best_f1=ap.best_f1,
        ms_per_image=1000 * float(np.mean(seconds[1:] or seconds)),
        background_images=len(background),
        background_false_positive_rate=float(np.mean(background)) if background else None,
        classes=_class_rows(names, ap, tp, npred),
        confusion=matrix.tolist(),
    )
    return result, ap, matrix


def evaluate(
    detector: OnnxDetector,
    data_yaml: Path,
    split: str = "val",
    threshold: float | None = None,
    use_best_f1: bool = False,
    out_dir: Path | None = None,
    track: Callable[..., Iterable] = lambda it, **_: it,
    tiling: bool | None = None,
) -> Evaluation:
    """Score `detector` on a split; writes metrics.json, metrics.md and PNG plots to `out_dir`.

    Precision/recall/F1 are taken at `threshold`, else at the best-F1 confidence when
    `use_best_f1`, else at the card's default confidence. `tiling` forces sliced inference on or
    off (None: as the card configures it), to measure what tiling brings.
    """
    results = predict(detector, data_yaml, split, track, tiling)
    result, ap, matrix = score(detector, results, data_yaml, split, threshold, use_best_f1)
    if out_dir is not None:
        write_evaluation(result, ap, matrix, out_dir)
    return result


def _class_rows(names: list[str], ap: APResult, tp: np.ndarray, npred: np.ndarray) -> list[ClassMetrics]:
    rows = []
    for c, name in enumerate(names):
        p = tp[c] / npred[c] if npred[c] else 0.0
        r = tp[c] / ap.labels[c] if ap.labels[c] else 0.0
        present = bool(ap.labels[c])
        rows.append(
            ClassMetrics(
                name,
                int(ap.labels[c]),
                float(ap.ap[c, 0]) if present else None,
                float(ap.ap[c].mean()) if present else None,
                float(p),
                float(r),
                float(2 * p * r / (p + r + 1e-16)),
            )
        )
    return rows


def write_evaluation(result: Evaluation, ap: APResult, matrix: np.ndarray, out_dir: Path) -> None:
    from training.plots import plot_all

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(result.to_json() + "\n", encoding="utf-8")
    (out_dir / "metrics.md").write_text(result.to_markdown(), encoding="utf-8")
    plot_all(out_dir, ap, [c.name for c in result.classes], matrix)


def resampled_differences(
    runs: list[list[ImageResult]], class_ids: list[int], nc: int, n: int, seed: int
) -> np.ndarray:
    """First minus second model's mean AP50 over `class_ids` on `n` resamples (with replacement)
    of the images both ran on (same order): the noise of a few-box set. Resamples without a
    labelled box of those classes are dropped."""
    stats = [
        [
            (match_predictions(r.det.xyxy, r.det.class_id, r.true_xyxy, r.true_cls), r.det.confidence, r.det.class_id)
            for r in rs
        ]
        for rs in runs
    ]
    truths = [r.true_cls for r in runs[0]]
    rng = np.random.default_rng(seed)
    diffs = np.empty(n)
    for i in range(n):
        pick = rng.integers(0, len(truths), len(truths))
        target = np.concatenate([truths[j] for j in pick])
        means = []
        for model in stats:
            ap = ap_per_class(*(np.concatenate([model[j][k] for j in pick]) for k in range(3)), target, nc)
            means.append(
                np.mean([ap.ap[c, 0] for c in class_ids if ap.labels[c]]) if ap.labels[class_ids].any() else np.nan
            )
        diffs[i] = means[0] - means[1]
    return diffs[~np.isnan(diffs)]
