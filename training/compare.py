"""Detector versions side by side on several evaluation sets, through the service's inference core.

For each version and set: AP50 (Ultralytics' settings), precision and recall at the version's own
default confidence, and the share of label-free images that still get a box at that confidence,
per image group when the set has a `groups.yaml` (see `training.datasets.listed`): e.g. how often
a clean facade or a poster would send the cleaning crew out for nothing. With a bootstrap, each
later version's AP50 minus the first's gets a 95 % interval over resampled images, so a gain on a
set of a few dozen photos can be told from noise.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import yaml

from service.inference.card import read_card
from service.inference.nms import box_iou
from training.corruptions import corrupt, seeded
from training.datasets.layout import MANIFEST, Box, load_yolo_dataset, yolo_line
from training.datasets.listed import GROUPS_FILE, is_listed, materialise, read_groups
from training.evaluate import ImageResult, open_detector, predict, read_labels, resampled_differences, score
from training.metrics import greedy_matches

NO_LABELS = "images without labels"


@dataclass
class FalseAlarms:
    group: str
    images: int
    with_detection: int

    @property
    def rate(self) -> float:
        return self.with_detection / self.images if self.images else 0.0


@dataclass
class Scorecard:
    """One version on one evaluation set."""

    model: str
    version: str
    variant: str
    data: str
    images: int
    boxes: int
    map50: float
    threshold: float
    precision: float
    recall: float
    false_alarms: list[FalseAlarms] = field(default_factory=list)
    # labelled boxes found at the default confidence (IoU 0.5) / labelled, per COCO size bin
    found_by_size: dict[str, tuple[int, int]] = field(default_factory=dict)
    # AP50 minus the first version's on the same resampled images: 95 % interval, share not above 0
    difference: tuple[float, float, float] | None = None
    results: list[ImageResult] = field(default_factory=list, repr=False)


def resolve_data(data: Path, shared: Path, work: Path) -> Path:
    """A data.yaml as given, or a listed dataset folder materialised under `work/<folder name>`."""
    return materialise(data, shared, work / data.name) if is_listed(data) else data


def corrupted_set(
    data_yaml: Path,
    splits: Sequence[str],
    corruption: str,
    out: Path,
    seed: int = 0,
    stems: Collection[str] | None = None,
) -> Path:
    """The splits under one street condition (`training.corruptions`), boxes moved with the pixels,
    written as a YOLO dataset of those splits into `out` (lossless PNG; image stems, groups and the
    `manifest.csv` of sources kept, so false alarms stay per group and images per source). `stems`
    limits it to the images scored. The draw is seeded per image: every run sees the same pixels."""
    dataset = load_yolo_dataset(data_yaml)
    if missing := [s for s in splits if s not in dataset.splits]:
        raise ValueError(f"{data_yaml} has no {missing[0]!r} split")
    shutil.rmtree(out, ignore_errors=True)
    for split in splits:
        (out / "images" / split).mkdir(parents=True)
        (out / "labels" / split).mkdir(parents=True)
        for path in dataset.splits[split]:
            if stems is not None and path.stem not in stems:
                continue
            image = cv2.imread(str(path))
            if image is None:
                raise ValueError(f"{path}: not a readable image")
            xyxy, cls = read_labels(path, image.shape[1], image.shape[0])
            image, xyxy = corrupt(corruption, image, xyxy, seeded(corruption, path.name, seed))
            h, w = image.shape[:2]
            lines = [yolo_line(Box("", *box), int(c), w, h) for box, c in zip(xyxy, cls, strict=True)]
            cv2.imwrite(str(out / "images" / split / f"{path.stem}.png"), image)
            text = "".join(f"{line}\n" for line in lines if line)  # boxes pushed out of the frame are gone
            (out / "labels" / split / f"{path.stem}.txt").write_text(text, encoding="utf-8")
    groups, pooled = read_groups(data_yaml)
    renamed = {Path(name).stem + ".png": group for name, group in groups.items()}
    (out / GROUPS_FILE).write_text(
        yaml.safe_dump({"pooled": pooled, "images": renamed}, sort_keys=False), encoding="utf-8"
    )
    if (manifest := data_yaml.parent / MANIFEST).is_file():
        shutil.copyfile(manifest, out / MANIFEST)
    data = {split: f"images/{split}" for split in splits}
    data |= {"nc": len(dataset.names), "names": dict(enumerate(dataset.names))}
    (out / "data.yaml").write_text(
        f"# {data_yaml} ({', '.join(splits)}) under `{corruption}` (seed {seed}); re-created by `stadtblick train`.\n"
        + yaml.safe_dump(data, sort_keys=False),
        encoding="utf-8",
    )
    return out / "data.yaml"


def scorecard(
    model: Path,
    data_yaml: Path,
    split: str = "val",
    variant: str | None = None,
    tiling: bool | None = None,
    track: Callable[..., Iterable] = lambda it, **_: it,
) -> Scorecard:
    card = read_card(model)
    detector = open_detector(model, variant)
    results = predict(detector, data_yaml, split, track, tiling)
    ev, _, _ = score(detector, results, data_yaml, split)
    groups, pooled = read_groups(data_yaml)
    background = [r for r in results if not len(r.true_cls)]
    by_group: dict[str, list[bool]] = {}
    for r in background:
        by_group.setdefault(groups.get(r.path.name, NO_LABELS), []).append(r.hit(ev.threshold))
    alarms = [FalseAlarms(g, len(hits), sum(hits)) for g, hits in sorted(by_group.items())]
    for name, members in pooled.items():
        hits = [h for g in members for h in by_group.get(g, [])]
        alarms.append(FalseAlarms(name, len(hits), sum(hits)))
    if len(by_group) > 1:
        alarms.append(FalseAlarms(NO_LABELS, len(background), sum(r.hit(ev.threshold) for r in background)))
    classes = [c for c in ev.classes if c.labels]
    return Scorecard(
        str(model),
        card.version,
        variant or card.serve_variant,
        str(data_yaml),
        ev.images,
        ev.instances,
        ev.map50,
        ev.threshold,
        sum(c.precision for c in classes) / len(classes) if classes else 0.0,
        sum(c.recall for c in classes) / len(classes) if classes else 0.0,
        alarms,
        found_by_size=found_by_size(results, ev.threshold),
        results=results,
    )


SIZES = (("small", 0.0), ("medium", 32.0**2), ("large", 96.0**2))  # COCO's bins, box area in pixels


def found_by_size(results: list[ImageResult], threshold: float) -> dict[str, tuple[int, int]]:
    """Per COCO size bin: labelled boxes a same-class box at `threshold` overlaps with IoU >= 0.5
    (each box used once), and all labelled boxes. Shows whether small tags are what is missed."""
    counts = {name: [0, 0] for name, _ in SIZES}
    for r in results:
        if not len(r.true_cls):
            continue
        keep = r.det.confidence >= threshold
        iou = box_iou(r.true_xyxy, r.det.xyxy[keep]) * (r.true_cls[:, None] == r.det.class_id[keep][None, :])
        found = set(greedy_matches(iou, 0.5)[:, 0].tolist()) if keep.any() else set()
        area = (r.true_xyxy[:, 2] - r.true_xyxy[:, 0]) * (r.true_xyxy[:, 3] - r.true_xyxy[:, 1])
        for i, a in enumerate(area):
            name = next(n for n, lo in reversed(SIZES) if a >= lo)
            counts[name][0] += i in found
            counts[name][1] += 1
    return {name: (f, n) for name, (f, n) in counts.items()}


def add_differences(cards: list[Scorecard], n: int, seed: int = 0) -> None:
    """Per set, each later version's AP50 minus the first's on `n` resamples of the set's images."""
    for data in dict.fromkeys(c.data for c in cards):
        first, *others = [c for c in cards if c.data == data]
        nc = len(read_card(Path(first.model)).class_names)
        for card in others:
            mine = {r.path: r for r in card.results}
            diffs = resampled_differences(
                [[mine[r.path] for r in first.results], first.results], list(range(nc)), nc, n, seed
            )
            if len(diffs):  # else no resample held a labelled box: no interval
                lo, hi = np.percentile(diffs, [2.5, 97.5])
                card.difference = (float(lo), float(hi), float(np.mean(diffs <= 0)))


def _rows(first: Scorecard, resampled: bool) -> list[tuple[str, Callable[[Scorecard], str]]]:
    rows: list[tuple[str, Callable[[Scorecard], str]]] = [
        (f"AP50 ({first.images} images, {first.boxes} boxes)", lambda c: f"{c.map50:.3f}"),
        (
            "precision / recall at the default confidence",
            lambda c: f"{c.precision:.2f} / {c.recall:.2f} @ {c.threshold:.2f}",
        ),
    ]
    rows.append(
        (
            "found at the default confidence: small / medium / large boxes (COCO sizes)",
            lambda c: " / ".join(f"{f}/{n}" for f, n in c.found_by_size.values()),
        )
    )
    if resampled:
        rows.append(
            (
                "AP50 minus the first, 95 % over images (share not above 0)",
                lambda c: "–" if c.difference is None else _interval(c.difference),
            )
        )
    for i, alarm in enumerate(first.false_alarms):
        rows.append(
            (
                f"false alarms: {alarm.group} ({alarm.images})",
                lambda c, i=i: f"{c.false_alarms[i].with_detection} ({c.false_alarms[i].rate:.0%})",
            )
        )
    return rows


def to_markdown(cards: list[Scorecard]) -> str:
    """One table: a row per set and metric, a column per version (in the order given)."""
    models = list(dict.fromkeys((c.model, c.version, c.variant) for c in cards))
    lines = [
        "| set | metric | " + " | ".join(f"{v} ({var}, `{m}`)" for m, v, var in models) + " |",
        "| --- | --- |" + " --- |" * len(models),
    ]
    for data in dict.fromkeys(c.data for c in cards):
        by_model = {(c.model, c.version, c.variant): c for c in cards if c.data == data}
        resampled = any(c.difference is not None for c in by_model.values())
        for metric, cell in _rows(next(iter(by_model.values())), resampled):
            cells = [cell(by_model[m]) if m in by_model else "–" for m in models]
            lines.append(f"| {Path(data).parent.name} | {metric} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _interval(difference: tuple[float, float, float]) -> str:
    lo, hi, not_above = difference
    return f"{lo:+.3f} to {hi:+.3f} ({not_above:.1%})"
