"""Leave-one-source-out evaluation: does a detector hold on a camera and place it never saw?

Random val shares its sources with train (665 of 797 road photos are one web collection), so it
overstates what a model does on another city's streets. This scores detector versions side by
side, through the service's inference core (`training.evaluate.predict`), on

* random val (the dataset's val split, all sources),
* each source of `manifest.csv`: a held-out source with all its images (train and val: a model
  trained without it has seen none), every other source with its val images only,
* pothole-free frames: images of those sets without a box of the class, and the val splits of
  other datasets of street photos (graffiti, anonymize) that have no potholes at all,

reporting AP50 at IoU 0.5, a centre-on-object AP50 (a prediction counts when its centre lies on an
unclaimed labelled box), a 95 % bootstrap interval over images (near-duplicate groups resampled
together, so consecutive dash-cam frames do not count as independent evidence) and, for two
models, the paired interval of their difference on the same resamples. False positives are the
share of pothole-free images with at least one box at the served threshold and boxes per image.
The default threshold can be calibrated on the held-out source (best F1 there), never on val.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from service.inference import Detections, OnnxDetector
from service.inference.card import ModelCard, read_card
from service.inference.nms import non_max_suppression
from training.compare import corrupted_set
from training.datasets.hashing import duplicate_groups
from training.datasets.layout import MANIFEST, load_yolo_dataset
from training.evaluate import predict_files
from training.metrics import IOU_THRESHOLDS, ap_per_class, centre_claims, match_centres, match_predictions
from training.road_views import BUILD_REPORT, HELD_OUT
from training.train_run import FRESH_STARTS, UNKNOWN_START


@dataclass(frozen=True)
class ImageSet:
    name: str
    kind: str  # val | held-out | source-val | negatives
    files: tuple[Path, ...]


@dataclass
class SetScore:
    """One model on one image set (class `cls` only)."""

    images: int
    boxes: int
    ap50: float | None
    ap50_ci: tuple[float, float] | None
    centre_ap50: float | None
    centre_ap50_ci: tuple[float, float] | None
    empty_images: int
    fp_image_rate: float | None  # share of images without a box of the class that get >= 1 box
    fp_per_image: float | None
    best_f1_conf: float | None
    # boxes found by their centre at the served confidence: median predicted / labelled height and
    # width (a box convention unlike the labellers' shows here while IoU-0.5 AP collapses)
    found_height_ratio: float | None = None
    found_width_ratio: float | None = None


@dataclass
class ModelReport:
    model: str
    version: str
    variant: str
    threshold: float  # served (card) threshold
    nms_iou: float
    merge_iou: float | None  # the card's merge-NMS, as served (None: plain NMS)
    held_out_in_training: bool | None  # None: unknown (no build report beside its training data)
    sets: dict[str, SetScore] = field(default_factory=dict)
    calibrated: dict[str, float] = field(default_factory=dict)  # set name -> best-F1 conf there
    fp_at_calibrated: dict[str, dict[str, float | None]] = field(default_factory=dict)
    # the confidence where this version finds as many random-val boxes as the first version at
    # its served one, and the false-alarm share there per set ({} without a labelled val set)
    at_equal_recall: dict = field(default_factory=dict)


@dataclass
class Comparison:
    data: str
    cls: str
    held_out: list[str]
    bootstrap: int
    sets: list[dict]
    models: list[ModelReport]
    deltas: dict[str, dict] = field(default_factory=dict)  # set -> paired difference models[1] - models[0]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


def sources_of(data_yaml: Path) -> dict[str, str]:
    """file stem -> source, from the dataset's manifest.csv (empty if it has none)."""
    manifest = data_yaml.parent / MANIFEST
    if not manifest.is_file():
        return {}
    with manifest.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    stem = "file_stem" if rows and "file_stem" in rows[0] else None
    return {r[stem]: r["source"] for r in rows if stem and r.get("source")}


def image_sets(data_yaml: Path, held_out: tuple[str, ...], negatives: list[Path]) -> list[ImageSet]:
    ds = load_yolo_dataset(data_yaml)
    source = sources_of(data_yaml)
    known = set(source.values())
    if unknown := set(held_out) - known:
        raise ValueError(
            f"held-out sources {sorted(unknown)} not in {data_yaml.parent / 'manifest.csv'}: {sorted(known)}"
        )
    val = ds.splits.get("val") or []
    sets = [ImageSet("random val", "val", tuple(val))]
    everything = [f for split in ds.splits.values() for f in split]
    for name in sorted(known):
        if name in held_out:
            files = [f for f in everything if source.get(f.stem) == name]
            sets.append(ImageSet(f"{name} (held out, all)", "held-out", tuple(files)))
        else:
            files = [f for f in val if source.get(f.stem) == name]
            sets.append(ImageSet(f"{name} (val)", "source-val", tuple(files)))
    for folder in negatives:
        files = load_yolo_dataset(folder / "data.yaml").splits.get("val") or []
        sets.append(ImageSet(f"{folder.name} (val, no potholes)", "negatives", tuple(files)))
    return [s for s in sets if s.files]


def held_out_in_training(card: ModelCard, held_out: tuple[str, ...]) -> bool | None:
    """Whether the version's weights have seen the held-out sources: through the data of every run
    in its lineage (recorded by `train finetune`), or, for older cards, the data it was exported
    with. A dataset from `training.road_views` says what it held out; a plain one holds every source."""
    lineage = card.training.get("data_lineage") or [card.training_data.get("data")]
    seen = [_data_holds(entry, held_out) for entry in lineage]
    return True if True in seen else None if None in seen else False


def _data_holds(entry: str | None, held_out: tuple[str, ...]) -> bool | None:
    if entry in FRESH_STARTS:
        return False
    if not entry or entry.startswith(UNKNOWN_START):
        return None
    report = Path(entry).parent / BUILD_REPORT
    if report.is_file():
        return not set(held_out) <= set(json.loads(report.read_text(encoding="utf-8")).get("held_out", []))
    return True if (Path(entry).parent / MANIFEST).is_file() else None


@dataclass
class _PerImage:
    """Per image, for class `cls`: TP flags (IoU 0.5 and centre), confidences, labelled boxes."""

    tp: list[np.ndarray]
    centre: list[np.ndarray]
    conf: list[np.ndarray]
    dets: list[Detections]  # the class's detections at validation settings (conf 0.001, NMS IoU 0.7)
    truths: list[np.ndarray]  # the labelled boxes of the class, xyxy

    @cached_property
    def boxes(self) -> np.ndarray:
        """(n_images,) number of labelled boxes of the class."""
        return np.array([len(t) for t in self.truths], dtype=np.int64)


def _per_image(preds: list[Detections], truths: list[tuple[np.ndarray, np.ndarray]], cls: int) -> _PerImage:
    tp, centre, conf, dets, own = [], [], [], [], []
    for det, (txyxy, tcls) in zip(preds, truths, strict=True):
        keep = det.class_id == cls
        dets.append(det[keep])
        d_xyxy, d_cls = det.xyxy[keep], det.class_id[keep]
        tp.append(match_predictions(d_xyxy, d_cls, txyxy, tcls, IOU_THRESHOLDS[:1])[:, 0])
        centre.append(match_centres(d_xyxy, d_cls, txyxy, tcls)[:, 0])
        conf.append(det.confidence[keep])
        own.append(txyxy[tcls == cls])
    return _PerImage(tp, centre, conf, dets, own)


def _ap50(flags: list[np.ndarray], conf: list[np.ndarray], labels: int, idx: np.ndarray) -> tuple[float, float]:
    """AP50 and best-F1 confidence of the images `idx` (with repeats) for one class."""
    tp = np.concatenate([np.zeros(0, bool), *(flags[i] for i in idx)])
    cf = np.concatenate([np.zeros(0), *(conf[i] for i in idx)])
    r = ap_per_class(tp[:, None], cf, np.zeros(len(cf)), np.zeros(labels), 1)
    return float(r.ap[0, 0]), r.best_conf


def _resamples(groups: list[int], n: int, seed: int) -> list[np.ndarray]:
    """`n` bootstrap resamples of image indices, whole near-duplicate groups at a time."""
    members: dict[int, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    blocks = list(members.values())
    rng = np.random.default_rng(seed)
    return [np.concatenate([blocks[k] for k in rng.integers(0, len(blocks), len(blocks))]) for _ in range(n)]


def _interval(values: list[float]) -> tuple[float, float]:
    lo, hi = np.percentile(values, [2.5, 97.5])
    return round(float(lo), 4), round(float(hi), 4)


def _served(det: Detections, thr: float, iou: float, merge_iou: float | None) -> Detections:
    """What the service answers: the served confidence and NMS applied to validation-setting detections."""
    return non_max_suppression(det[det.confidence >= thr], iou, 300, merge_iou)


def _fp(per: _PerImage, thr: float, iou: float, merge_iou: float | None) -> tuple[int, float | None, float | None]:
    """Images without a labelled box of the class, share with >= 1 box and boxes per image, with
    the served confidence and NMS IoU applied to the validation-setting detections."""
    empty = np.flatnonzero(per.boxes == 0)
    if not len(empty):
        return 0, None, None
    counts = np.array([len(_served(per.dets[i], thr, iou, merge_iou)) for i in empty])
    return len(empty), float((counts > 0).mean()), float(counts.mean())


def _found_size_ratios(
    per: _PerImage, thr: float, iou: float, merge_iou: float | None
) -> tuple[float | None, float | None]:
    """Median predicted / labelled height and width of the labelled boxes found by their centre
    by a box the service answers."""
    ratios = []
    for det, truth in zip(per.dets, per.truths, strict=True):
        shown = _served(det, thr, iou, merge_iou)
        claims = centre_claims(shown.xyxy, np.zeros(len(shown), int), truth, np.zeros(len(truth), int))
        for j in np.flatnonzero(claims >= 0):
            p, t = shown.xyxy[j], truth[claims[j]]
            ratios.append(((p[3] - p[1]) / max(t[3] - t[1], 1e-6), (p[2] - p[0]) / max(t[2] - t[0], 1e-6)))
    if not ratios:
        return None, None
    height, width = np.median(np.array(ratios), axis=0)
    return round(float(height), 3), round(float(width), 3)


def score_set(
    per: _PerImage, resamples: list[np.ndarray], thr: float, iou: float, merge_iou: float | None = None
) -> SetScore:
    everything = np.arange(len(per.boxes))
    labels = int(per.boxes.sum())
    ap = centre = best = None
    ap_ci = centre_ci = None
    if labels:
        ap, best = _ap50(per.tp, per.conf, labels, everything)
        centre, _ = _ap50(per.centre, per.conf, labels, everything)
        ap_ci = _interval([_ap50(per.tp, per.conf, int(per.boxes[r].sum()), r)[0] for r in resamples])
        centre_ci = _interval([_ap50(per.centre, per.conf, int(per.boxes[r].sum()), r)[0] for r in resamples])
    empty, rate, per_image = _fp(per, thr, iou, merge_iou)
    height, width = _found_size_ratios(per, thr, iou, merge_iou) if labels else (None, None)
    return SetScore(len(per.boxes), labels, ap, ap_ci, centre, centre_ci, empty, rate, per_image, best, height, width)


def _recall(per: _PerImage, thr: float) -> float:
    """Share of the labelled boxes found (IoU 0.5) by detections at or above `thr`."""
    hits = sum(int((tp & (conf >= thr)).sum()) for tp, conf in zip(per.tp, per.conf, strict=True))
    return hits / max(int(per.boxes.sum()), 1)


def _confidence_for_recall(per: _PerImage, recall: float) -> float | None:
    """The highest confidence at which `per` finds at least `recall` of its labelled boxes."""
    conf = np.concatenate([np.zeros(0), *per.conf])
    tp = np.concatenate([np.zeros(0, bool), *per.tp])
    order = np.argsort(-conf, kind="stable")
    reached = np.flatnonzero(np.cumsum(tp[order]) >= recall * int(per.boxes.sum()))
    return float(conf[order][reached[0]]) if len(reached) else None


def _equal_recall(reports: list[ModelReport], per_model: list[dict[str, _PerImage]], sets: list[ImageSet]) -> None:
    """False alarms at equal recall: a version with a higher default confidence alarms less and
    finds less; this compares the versions where they find the same share of random val's boxes."""
    val = next((s.name for s in sets if s.kind == "val"), None)
    if val is None or not per_model[0][val].boxes.sum():
        return
    recall = _recall(per_model[0][val], reports[0].threshold)
    for i, (report, per_set) in enumerate(zip(reports, per_model, strict=True)):
        thr = report.threshold if i == 0 else _confidence_for_recall(per_set[val], recall)
        if thr is None:
            report.at_equal_recall = {"recall": round(recall, 4), "threshold": None, "fp_image_rate": {}}
            continue
        rates = {s.name: _fp(per_set[s.name], thr, report.nms_iou, report.merge_iou)[1] for s in sets}
        report.at_equal_recall = {
            "recall": round(recall, 4),
            "threshold": round(thr, 4),
            "fp_image_rate": {k: v for k, v in rates.items() if v is not None},
        }


def _paired_delta(a: _PerImage, b: _PerImage, resamples: list[np.ndarray]) -> dict:
    """b - a on the same resamples: AP50 and centre AP50, point estimate and 95 % interval."""
    out = {}
    for key in ("tp", "centre"):
        diffs = []
        for r in resamples:
            labels = int(a.boxes[r].sum())
            diffs.append(_ap50(getattr(b, key), b.conf, labels, r)[0] - _ap50(getattr(a, key), a.conf, labels, r)[0])
        full = np.arange(len(a.boxes))
        labels = int(a.boxes.sum())
        point = _ap50(getattr(b, key), b.conf, labels, full)[0] - _ap50(getattr(a, key), a.conf, labels, full)[0]
        name = "ap50" if key == "tp" else "centre_ap50"
        out[name] = {"delta": round(point, 4), "ci": _interval(diffs), "significant": bool(_interval(diffs)[0] > 0)}
    return out


def compare(
    models: list[Path],
    data_yaml: Path,
    held_out: tuple[str, ...] = HELD_OUT,
    negatives: list[Path] | None = None,
    cls_name: str = "pothole",
    bootstrap: int = 1000,
    seed: int = 0,
    variant: str | None = None,
    track: Callable[..., Iterable] = lambda it, **_: it,
) -> Comparison:
    """Score every model on every image set; each image is detected once per model."""
    sets = image_sets(data_yaml, held_out, negatives or [])
    files = sorted({f for s in sets for f in s.files})
    index = {f: i for i, f in enumerate(files)}
    unlabelled = {index[f] for s in sets if s.kind == "negatives" for f in s.files}  # other datasets' classes
    groups_all = duplicate_groups(files)
    per_model: list[dict[str, _PerImage]] = []
    reports = []
    for folder in models:
        card = read_card(folder)
        if cls_name not in card.class_names:
            raise ValueError(f"{folder} has no class {cls_name!r} ({card.class_names})")
        chosen = variant if variant in card.files else card.serve_variant
        detector = OnnxDetector(folder / card.files[chosen].path, card)
        results = predict_files(detector, files, track)
        preds = [r.det for r in results]
        truths = [(r.true_xyxy, r.true_cls) for r in results]
        truths = [
            (np.zeros((0, 4), np.float32), np.zeros(0, np.int64)) if i in unlabelled else t
            for i, t in enumerate(truths)
        ]
        cls = card.class_names.index(cls_name)
        per_set = {}
        for s in sets:
            idx = [index[f] for f in s.files]
            per_set[s.name] = _per_image([preds[i] for i in idx], [truths[i] for i in idx], cls)
        per_model.append(per_set)
        reports.append(
            ModelReport(
                str(folder),
                card.version,
                chosen,
                card.thresholds.conf,
                card.thresholds.iou,
                card.thresholds.merge_iou,
                held_out_in_training(card, held_out),
            )
        )
    result = Comparison(
        str(data_yaml), cls_name, list(held_out), bootstrap, [{"name": s.name, "kind": s.kind} for s in sets], reports
    )
    for s in sets:
        groups = [groups_all[index[f]] for f in s.files]
        resamples = _resamples(groups, bootstrap, seed)
        for report, per_set in zip(reports, per_model, strict=True):
            report.sets[s.name] = score_set(
                per_set[s.name], resamples, report.threshold, report.nms_iou, report.merge_iou
            )
        if len(per_model) == 2 and per_model[0][s.name].boxes.sum():
            result.deltas[s.name] = _paired_delta(per_model[0][s.name], per_model[1][s.name], resamples)
    _equal_recall(reports, per_model, sets)
    for report, per_set in zip(reports, per_model, strict=True):
        for s in sets:
            best = report.sets[s.name].best_f1_conf
            if s.kind == "held-out" and best is not None:
                report.calibrated[s.name] = best
        if report.calibrated:
            thr = float(np.mean(list(report.calibrated.values())))
            for s in sets:
                empty, rate, per_image = _fp(per_set[s.name], thr, report.nms_iou, report.merge_iou)
                if empty:
                    report.fp_at_calibrated[s.name] = {"threshold": round(thr, 3), "rate": rate, "per_image": per_image}
    return result


def under_conditions(
    data_yaml: Path,
    negatives: list[Path],
    held_out: tuple[str, ...],
    conditions: list[str],
    work: Path,
    run: Callable[..., Comparison],
    seed: int = 0,
) -> dict[str, Comparison]:
    """`run` (`compare` with its models and options bound; called with `data_yaml=` and `negatives=`)
    again with every scored image under one street condition at a time (`training.corruptions`, one
    seeded draw per image): the held-out source, the other sources' val photos and the pothole-free
    sets, written under `work/<condition>/` with their names, stems and manifest kept, so the sets and
    sources are the clean run's."""
    scored = {f.stem for s in image_sets(data_yaml, held_out, []) for f in s.files}
    splits = tuple(load_yolo_dataset(data_yaml).splits)
    result = {}
    for condition in conditions:
        root = work / condition
        data = corrupted_set(data_yaml, splits, condition, root / data_yaml.parent.name, seed, scored)
        noisy_negatives = [
            corrupted_set(n / "data.yaml", ("val",), condition, root / n.name, seed).parent for n in negatives
        ]
        result[condition] = run(data_yaml=data, negatives=noisy_negatives)
    return result


def conditions_markdown(clean: Comparison, by_condition: dict[str, Comparison]) -> str:
    """One row per condition and set: each version's AP50 / centre AP50 and, for two, the paired
    difference of centre AP50; then the pothole-free sets' false-alarm shares per condition."""
    runs = {"none": clean} | by_condition
    names = [f"{Path(m.model).name} {m.version}" for m in clean.models]
    paired = len(names) == 2
    lines = [
        f"# {clean.cls} by source under street conditions: {', '.join(names)}",
        "",
        "AP50 / centre AP50 per version" + (f"; {names[1]} minus {names[0]}, 95 % paired interval." if paired else "."),
        "",
        "| condition | set | " + " | ".join(names) + (" | Δ centre AP50 [95% CI] |" if paired else " |"),
        "|" + " --- |" * (2 + len(names) + paired),
    ]
    for condition, c in runs.items():
        for s in c.sets:
            scores = [m.sets[s["name"]] for m in c.models]
            if not scores[0].boxes:
                continue
            cells = [f"{_f(x.ap50)} / {_f(x.centre_ap50)}" for x in scores]
            if paired:
                d = c.deltas.get(s["name"], {}).get("centre_ap50")
                cells.append("–" if d is None else f"{d['delta']:+.3f}{_ci(d['ci'])}")
            lines.append(f"| {condition} | {s['name']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Images without a {clean.cls} box that get one at the served threshold:",
        "",
        "| condition | set | images | " + " | ".join(names) + " |",
        "|" + " --- |" * (3 + len(names)),
    ]
    for condition, c in runs.items():
        for s in c.sets:
            scores = [m.sets[s["name"]] for m in c.models]
            if s["kind"] == "negatives" and scores[0].empty_images:
                cells = [f"{x.fp_image_rate:.1%}" for x in scores]
                lines.append(f"| {condition} | {s['name']} | {scores[0].empty_images} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_conditions_report(clean: Comparison, by_condition: dict[str, Comparison], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    payload = {k: asdict(v) for k, v in by_condition.items()}
    (out / "loso-conditions.json").write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    md = out / "loso-conditions.md"
    md.write_text(conditions_markdown(clean, by_condition), encoding="utf-8")
    return md


def _f(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def _ci(v: tuple[float, float] | None) -> str:
    return "" if v is None else f" [{v[0]:.3f}, {v[1]:.3f}]"


def to_markdown(c: Comparison) -> str:
    names = [f"{Path(m.model).name} {m.version} ({m.variant}, conf {m.threshold:.3f})" for m in c.models]
    head = "| set | images | boxes | " + " | ".join(f"{n}: AP50 [95% CI] / centre AP50" for n in names) + " |"
    lines = [
        f"# {c.cls} by source: {', '.join(names)}",
        "",
        f"Data `{c.data}`; held out: {', '.join(c.held_out)}; bootstrap {c.bootstrap} resamples of "
        "near-duplicate groups (dHash), 95 % percentile intervals.",
        "",
    ]
    for m in c.models:
        seen = {True: "IN its training data", False: "not in its training data", None: "unknown"}
        lines.append(f"- `{m.model}` {m.version}: held-out source {seen[m.held_out_in_training]}.")
    lines += ["", head, "|" + " --- |" * (3 + len(names))]
    for s in c.sets:
        scores = [m.sets[s["name"]] for m in c.models]
        if not scores[0].boxes:
            continue
        cells = [f"{_f(x.ap50)}{_ci(x.ap50_ci)} / {_f(x.centre_ap50)}{_ci(x.centre_ap50_ci)}" for x in scores]
        lines.append(f"| {s['name']} | {scores[0].images} | {scores[0].boxes} | " + " | ".join(cells) + " |")
    if c.deltas:
        lines += ["", f"Paired difference {names[1]} minus {names[0]} (same resamples):", ""]
        lines += ["| set | ΔAP50 [95% CI] | ΔcentreAP50 [95% CI] |", "| --- | --- | --- |"]
        for name, d in c.deltas.items():
            a, b = d["ap50"], d["centre_ap50"]
            lines.append(f"| {name} | {a['delta']:+.3f}{_ci(a['ci'])} | {b['delta']:+.3f}{_ci(b['ci'])} |")
    lines += [
        "",
        f"Labelled {c.cls} boxes found by a box centred on them at the served threshold: median predicted / "
        "labelled height × width (far from 1: the boxes follow another convention than the labels):",
        "",
        "| set | " + " | ".join(names) + " |",
        "|" + " --- |" * (1 + len(names)),
    ]
    for s in c.sets:
        scores = [m.sets[s["name"]] for m in c.models]
        if scores[0].boxes:
            cells = [f"{_f(x.found_height_ratio)} × {_f(x.found_width_ratio)}" for x in scores]
            lines.append(f"| {s['name']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Images without a {c.cls} box: share with ≥ 1 {c.cls} box at the served threshold, boxes per image:",
        "",
    ]
    lines += ["| set | images | " + " | ".join(names) + " |", "|" + " --- |" * (2 + len(names))]
    for s in c.sets:
        scores = [m.sets[s["name"]] for m in c.models]
        if scores[0].empty_images:
            cells = [f"{x.fp_image_rate:.1%} / {x.fp_per_image:.2f}" for x in scores]
            lines.append(f"| {s['name']} | {scores[0].empty_images} | " + " | ".join(cells) + " |")
    if c.models[0].at_equal_recall:
        recall = c.models[0].at_equal_recall["recall"]
        lines += [
            "",
            f"The same at equal recall: each version at the confidence where it finds {recall:.1%} of random val's "
            f"{c.cls} boxes (IoU 0.5), as {names[0]} does at its served confidence:",
            "",
            "| set | " + " | ".join(names) + " |",
            "|" + " --- |" * (1 + len(names)),
            "| confidence | " + " | ".join(_f(m.at_equal_recall.get("threshold")) for m in c.models) + " |",
        ]
        for s in c.sets:
            rates = [m.at_equal_recall.get("fp_image_rate", {}).get(s["name"]) for m in c.models]
            if c.models[0].sets[s["name"]].empty_images:
                lines.append(f"| {s['name']} | " + " | ".join("–" if r is None else f"{r:.1%}" for r in rates) + " |")
    lines.append("")
    for m in c.models:
        for name, thr in m.calibrated.items():
            fp = ", ".join(f"{k} {v['rate']:.1%}" for k, v in m.fp_at_calibrated.items())
            lines.append(f"- {m.version}: best-F1 confidence on {name} = {thr:.3f}; false positives there: {fp}")
    return "\n".join(lines) + "\n"


def write_report(c: Comparison, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "loso.json").write_text(c.to_json() + "\n", encoding="utf-8")
    md = out / "loso.md"
    md.write_text(to_markdown(c), encoding="utf-8")
    return md


def record(c: Comparison, calibrate: bool) -> list[Path]:
    """Store each model's by-source scores in its card (`metrics.by_source`); with `calibrate`, also
    set its default confidence to the best F1 on the held-out source, where that source was really
    held out of its training (calibrating on training data would be no calibration)."""
    from training.modelcard import write_cards

    written = []
    for m in c.models:
        folder = Path(m.model)
        card = read_card(folder)
        card.metrics["by_source"] = {
            "data": c.data,
            "class": c.cls,
            "held_out": c.held_out,
            "held_out_in_training": m.held_out_in_training,
            "variant": m.variant,
            "threshold": m.threshold,
            "bootstrap": c.bootstrap,
            "sets": {k: asdict(v) for k, v in m.sets.items()},
            "calibrated": m.calibrated,
            "at_equal_recall": m.at_equal_recall,
        }
        if calibrate and m.calibrated and m.held_out_in_training is False:
            card.thresholds.conf = round(float(np.mean(list(m.calibrated.values()))), 3)
            card.metrics["by_source"]["threshold_calibrated_on"] = list(m.calibrated)
        write_cards(folder, card)
        written.append(folder)
    return written
