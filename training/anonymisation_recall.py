"""Does the anonymiser hide what it must? Recall of labelled faces and plates, measured on its output.

A labelled box counts as anonymised when at least 80 % of its area lies in the anonymiser's
mask: the pixels it replaced (the union of the obscured regions with their margin; ellipses
where faces are obscured as ellipses). This is a pixel-level measurement, not detector recall:
a detection whose box covers half a face leaves the other half readable, and fails here. The
mask is counted rather than a diff of output against input, because blurring a flat patch
changes few pixels, yet hides whatever was there.

Precision is reported twice: the share of obscured regions that overlap a labelled box, and the
share of obscured pixels inside labelled boxes (what was blurred needlessly). Each source is
measured alone and all together, with the service's settings (`STADTBLICK_ANONYMISE_*`), so
the numbers describe what the service does.

The robustness benchmark (issue #21) measures the same rule on corrupted copies of the split:
the corruptions of `training.corruptions` (the ones the training data builder bakes in), each
drawn from a seed per image and corruption, so every run and machine sees the same pixels. It
reports recall per corruption and per size bin (shorter side of the labelled box as it lies in
the corrupted image) and the over-blurring: the share of pixels outside labelled boxes that the
anonymiser replaced. Several confidence thresholds are scored from one detection pass (a region
found at the lowest threshold is kept at a higher one when its confidence reaches it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from service.imaging import decode_image
from service.privacy import Anonymiser
from service.privacy.anonymiser import Region
from training.corruptions import CORRUPTIONS, corrupt, seeded
from training.datasets.layout import load_yolo_dataset
from training.evaluate import read_labels

MIN_COVERED = 0.8  # share of a labelled box's area that must be obscured
CLEAN = "clean"  # the split as it is, measured beside the corruptions
SIZE_BINS = ((8.0, "<8"), (16.0, "8-16"), (32.0, "16-32"), (float("inf"), ">=32"))  # shorter side, px


def size_bin(short_side: float) -> str:
    return next(name for upper, name in SIZE_BINS if short_side < upper)


def _rate(hit: int, total: int) -> float | None:
    return hit / total if total else None


@dataclass
class ClassRecall:
    name: str
    boxes: int = 0
    anonymised: int = 0
    by_size: dict[str, list[int]] = field(default_factory=lambda: {name: [0, 0] for _, name in SIZE_BINS})

    @property
    def recall(self) -> float | None:
        return _rate(self.anonymised, self.boxes)

    def count(self, short_side: float, hidden: bool) -> None:
        self.boxes += 1
        self.anonymised += hidden
        counted = self.by_size[size_bin(short_side)]
        counted[0] += 1
        counted[1] += hidden

    def size_recall(self) -> dict[str, float | None]:
        return {name: _rate(hit, total) for name, (total, hit) in self.by_size.items()}


@dataclass
class SourcesResult:
    """One combination of sources on one split."""

    sources: list[str]
    images: int = 0
    classes: list[ClassRecall] = field(default_factory=list)
    regions: int = 0
    regions_on_labels: int = 0
    obscured_px: int = 0
    obscured_px_on_labels: int = 0
    px_off_labels: int = 0
    seconds: float = 0.0

    @property
    def region_precision(self) -> float | None:
        return self.regions_on_labels / self.regions if self.regions else None

    @property
    def area_precision(self) -> float | None:
        return self.obscured_px_on_labels / self.obscured_px if self.obscured_px else None

    @property
    def over_blurring(self) -> float | None:
        """Share of the pixels outside every labelled box that were obscured all the same."""
        return _rate(self.obscured_px - self.obscured_px_on_labels, self.px_off_labels)

    def summary(self) -> dict:
        return {
            **asdict(self),
            "recall": {c.name: c.recall for c in self.classes},
            "recall_by_size": {c.name: c.size_recall() for c in self.classes},
            "region_precision": self.region_precision,
            "area_precision": self.area_precision,
            "over_blurring": self.over_blurring,
            "ms_per_image": 1000 * self.seconds / max(self.images, 1),
        }

    def score(self, anonymiser: Anonymiser, shape: tuple[int, ...], regions: list[Region], xyxy, cls) -> None:
        """Count one image: which labelled boxes the regions' mask covers, and what it covers besides."""
        h, w = shape[:2]
        mask = anonymiser.mask(shape, regions)
        labelled = np.zeros((h, w), bool)
        for box, c in zip(xyxy, cls, strict=True):
            x1, y1, x2, y2 = box_pixels(box, w, h)
            if x2 <= x1 or y2 <= y1:
                continue
            labelled[y1:y2, x1:x2] = True
            short_side = min(float(box[2]) - float(box[0]), float(box[3]) - float(box[1]))
            self.classes[int(c)].count(short_side, bool(mask[y1:y2, x1:x2].mean() >= MIN_COVERED))
        self.images += 1
        self.regions += len(regions)
        self.regions_on_labels += sum(bool(labelled[r.box[1] : r.box[3], r.box[0] : r.box[2]].any()) for r in regions)
        self.obscured_px += int(mask.sum())
        self.obscured_px_on_labels += int((mask & labelled).sum())
        self.px_off_labels += int((~labelled).sum())


def box_pixels(xyxy: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """A labelled box as the pixels it touches, inside the image."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    return (
        max(int(np.floor(x1)), 0),
        max(int(np.floor(y1)), 0),
        min(int(np.ceil(x2)), width),
        min(int(np.ceil(y2)), height),
    )


def measure(
    anonymiser: Anonymiser,
    images: list[Path],
    names: list[str],
    track: Callable[..., Iterable] = lambda it, **_: it,
) -> SourcesResult:
    result = SourcesResult([s.name for s in anonymiser.sources], classes=[ClassRecall(n) for n in names])
    for path in track(images, description=" + ".join(result.sources)):
        rgb = decode_image(path.read_bytes()).pixels
        start = time.perf_counter()
        regions = anonymiser.find(rgb)
        result.seconds += time.perf_counter() - start
        result.score(anonymiser, rgb.shape, regions, *read_labels(path, rgb.shape[1], rgb.shape[0]))
    return result


def combinations(anonymiser: Anonymiser) -> list[Anonymiser]:
    """Each source alone, then all together (when there are several)."""
    alone = [anonymiser.only([s.name]) for s in anonymiser.sources]
    return [*alone, anonymiser] if len(alone) > 1 else alone


def measure_sources(
    anonymiser: Anonymiser, data_yaml: Path, split: str, track: Callable[..., Iterable] = lambda it, **_: it
) -> list[SourcesResult]:
    ds = load_yolo_dataset(data_yaml)
    images = ds.splits.get(split) or []
    if not images:
        raise ValueError(f"split {split!r} of {data_yaml} has no images")
    return [measure(a, images, ds.names, track) for a in combinations(anonymiser)]


def _f(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join("| " + " | ".join(row) + " |" for row in [header, ["---"] * len(header), *rows])


def to_markdown(results: list[SourcesResult], data_yaml: Path, split: str, settings: dict) -> str:
    names = [c.name for c in results[0].classes] if results else []
    header = ["sources", *[f"{n} recall (boxes)" for n in names], "region precision", "area precision", "ms/image"]
    rows = []
    for r in results:
        recalls = [f"{_f(c.recall)} ({c.anonymised}/{c.boxes})" for c in r.classes]
        ms = 1000 * r.seconds / max(r.images, 1)
        rows.append([" + ".join(r.sources), *recalls, _f(r.region_precision), _f(r.area_precision), f"{ms:.0f}"])
    table = _table(header, rows)
    return (
        f"# Anonymisation recall\n\nData: `{data_yaml}` (split `{split}`, {results[0].images if results else 0} "
        f"images). A labelled box counts as anonymised when ≥ {MIN_COVERED:.0%} of its area is obscured "
        "(the anonymiser's mask).\n\n"
        f"Settings: {', '.join(f'{k} {v}' for k, v in settings.items())}\n\n{table}\n"
    )


def write_report(results: list[SourcesResult], data_yaml: Path, split: str, settings: dict, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "data": str(data_yaml),
        "split": split,
        "min_covered": MIN_COVERED,
        "settings": settings,
        "results": [r.summary() for r in results],
    }
    (out_dir / "anonymisation_recall.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    markdown = out_dir / "anonymisation_recall.md"
    markdown.write_text(to_markdown(results, data_yaml, split, settings), encoding="utf-8")
    return markdown


@dataclass
class RobustnessResult:
    """One anonymiser at one confidence threshold on the clean and corrupted copies of a split."""

    variant: str
    conf: float
    corruptions: dict[str, SourcesResult]

    def _corrupted(self) -> list[SourcesResult]:
        """What the averages are over: the corruptions, or the clean split when it was measured alone."""
        corrupted = [r for name, r in self.corruptions.items() if name != CLEAN]
        return corrupted or list(self.corruptions.values())

    def mean_recall(self, name: str) -> float | None:
        """Recall averaged over the corruptions, each weighted alike (issue #21's headline number)."""
        values = [c.recall for r in self._corrupted() for c in r.classes if c.name == name and c.recall is not None]
        return sum(values) / len(values) if values else None

    def pooled_size_recall(self, name: str) -> dict[str, float | None]:
        """Recall per size bin over all corrupted copies together (small boxes are few per corruption)."""
        totals = {size: [0, 0] for _, size in SIZE_BINS}
        for r in self._corrupted():
            for c in (c for c in r.classes if c.name == name):
                for size, (total, hit) in c.by_size.items():
                    totals[size][0] += total
                    totals[size][1] += hit
        return {size: _rate(hit, total) for size, (total, hit) in totals.items()}

    def mean_over_blurring(self) -> float | None:
        values = [r.over_blurring for r in self._corrupted() if r.over_blurring is not None]
        return sum(values) / len(values) if values else None

    def summary(self, names: list[str]) -> dict:
        return {
            "variant": self.variant,
            "conf": self.conf,
            "mean_recall": {n: self.mean_recall(n) for n in names},
            "pooled_recall_by_size": {n: self.pooled_size_recall(n) for n in names},
            "mean_over_blurring": self.mean_over_blurring(),
            "corruptions": {name: r.summary() for name, r in self.corruptions.items()},
        }


def measure_robustness(
    variants: list[tuple[str, Anonymiser]],
    images: list[Path],
    names: list[str],
    corruptions: list[str],
    confs: list[float],
    seed: int = 0,
    track: Callable[..., Iterable] = lambda it, **_: it,
) -> list[RobustnessResult]:
    """Each variant on each corruption of each image, scored at every threshold in `confs`."""
    unknown = set(corruptions) - {CLEAN, *CORRUPTIONS}
    if unknown:
        raise ValueError(f"unknown corruptions {sorted(unknown)}; known: {', '.join([CLEAN, *CORRUPTIONS])}")
    finders = [(label, Anonymiser(a.sources, replace(a.config, conf=min(confs)))) for label, a in variants]
    results = {
        label: [
            RobustnessResult(
                label,
                conf,
                {
                    c: SourcesResult([s.name for s in f.sources], classes=[ClassRecall(n) for n in names])
                    for c in corruptions
                },
            )
            for conf in confs
        ]
        for label, f in finders
    }
    for corruption in corruptions:
        for path in track(images, description=corruption):
            rgb = decode_image(path.read_bytes()).pixels
            xyxy, cls = read_labels(path, rgb.shape[1], rgb.shape[0])
            if corruption != CLEAN:
                rgb, xyxy = corrupt(corruption, rgb, xyxy, seeded(corruption, path.name, seed))
            found: dict[tuple, tuple[list[Region], float]] = {}  # a detector the variants share runs once
            for label, finder in finders:
                regions, seconds = [], 0.0
                for source in finder.sources:
                    key = (id(source.detector), source.obscured)
                    if key not in found:
                        start = time.perf_counter()
                        found[key] = (finder.only([source.name]).find(rgb), time.perf_counter() - start)
                    regions += found[key][0]
                    seconds += found[key][1]
                for result in results[label]:
                    scored = result.corruptions[corruption]
                    scored.seconds += seconds
                    kept = [r for r in regions if r.confidence >= result.conf]
                    scored.score(finder, rgb.shape, kept, xyxy, cls)
    return [r for label, _ in finders for r in results[label]]


def robustness_markdown(
    results: list[RobustnessResult], names: list[str], data_yaml: Path, split: str, seed: int
) -> str:
    bins = [size for _, size in SIZE_BINS]
    header = ["variant", "conf", *[f"{n} mean" for n in names], *[f"{n} {b} px" for n in names for b in bins]]
    header += ["over-blurring"]
    rows = [
        [r.variant, f"{r.conf:g}", *[_f(r.mean_recall(n)) for n in names]]
        + [_f(r.pooled_size_recall(n)[b]) for n in names for b in bins]
        + [f"{100 * (r.mean_over_blurring() or 0):.2f} %"]
        for r in results
    ]
    parts = [
        f"# Anonymisation robustness\n\nData: `{data_yaml}` (split `{split}`), corrupted with "
        f"`training.corruptions` (seed {seed}). A labelled box counts as anonymised when ≥ {MIN_COVERED:.0%} of "
        "its area is obscured. Means are over the corruptions (each alike); size bins (shorter side of the box in "
        "the corrupted image) pool all corrupted copies; over-blurring is the share of pixels outside labelled "
        "boxes that were obscured.\n",
        _table(header, rows),
    ]
    for r in results:
        header = ["corruption", *[f"{n} (boxes)" for n in names], *[f"{n} {b}" for n in names for b in bins]]
        header += ["over-blurring", "ms/image"]
        rows = []
        for name, scored in r.corruptions.items():
            by_size = {c.name: c.by_size for c in scored.classes}
            rows.append(
                [name, *[f"{_f(c.recall)} ({c.anonymised}/{c.boxes})" for c in scored.classes]]
                + [f"{by_size[n][b][1]}/{by_size[n][b][0]}" for n in names for b in bins]
                + [f"{100 * (scored.over_blurring or 0):.2f} %", f"{1000 * scored.seconds / max(scored.images, 1):.0f}"]
            )
        parts.append(f"\n## {r.variant}, conf {r.conf:g}\n\n{_table(header, rows)}")
    return "\n".join(parts) + "\n"


def write_robustness(
    results: list[RobustnessResult], names: list[str], data_yaml: Path, split: str, seed: int, out_dir: Path
) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "data": str(data_yaml),
        "split": split,
        "seed": seed,
        "min_covered": MIN_COVERED,
        "size_bins": [size for _, size in SIZE_BINS],
        "results": [r.summary(names) for r in results],
    }
    (out_dir / "anonymisation_robustness.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    markdown = out_dir / "anonymisation_robustness.md"
    markdown.write_text(robustness_markdown(results, names, data_yaml, split, seed), encoding="utf-8")
    return markdown
