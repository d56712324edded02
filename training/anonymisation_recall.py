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
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from service.imaging import decode_image
from service.privacy import Anonymiser
from training.datasets.layout import load_yolo_dataset
from training.evaluate import read_labels

MIN_COVERED = 0.8  # share of a labelled box's area that must be obscured


@dataclass
class ClassRecall:
    name: str
    boxes: int = 0
    anonymised: int = 0

    @property
    def recall(self) -> float | None:
        return self.anonymised / self.boxes if self.boxes else None


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
    seconds: float = 0.0

    @property
    def region_precision(self) -> float | None:
        return self.regions_on_labels / self.regions if self.regions else None

    @property
    def area_precision(self) -> float | None:
        return self.obscured_px_on_labels / self.obscured_px if self.obscured_px else None

    def summary(self) -> dict:
        return {
            **asdict(self),
            "recall": {c.name: c.recall for c in self.classes},
            "region_precision": self.region_precision,
            "area_precision": self.area_precision,
            "ms_per_image": 1000 * self.seconds / max(self.images, 1),
        }


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
        h, w = rgb.shape[:2]
        start = time.perf_counter()
        regions = anonymiser.find(rgb)
        result.seconds += time.perf_counter() - start
        mask = anonymiser.mask(rgb.shape, regions)
        labelled = np.zeros((h, w), bool)
        xyxy, cls = read_labels(path, w, h)
        for box, c in zip(xyxy, cls, strict=True):
            x1, y1, x2, y2 = box_pixels(box, w, h)
            if x2 <= x1 or y2 <= y1:
                continue
            labelled[y1:y2, x1:x2] = True
            counted = result.classes[int(c)]
            counted.boxes += 1
            counted.anonymised += bool(mask[y1:y2, x1:x2].mean() >= MIN_COVERED)
        result.images += 1
        result.regions += len(regions)
        result.regions_on_labels += sum(bool(labelled[r.box[1] : r.box[3], r.box[0] : r.box[2]].any()) for r in regions)
        result.obscured_px += int(mask.sum())
        result.obscured_px_on_labels += int((mask & labelled).sum())
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


def to_markdown(results: list[SourcesResult], data_yaml: Path, split: str, settings: dict) -> str:
    def f(v: float | None) -> str:
        return "–" if v is None else f"{v:.3f}"

    names = [c.name for c in results[0].classes] if results else []
    header = ["sources", *[f"{n} recall (boxes)" for n in names], "region precision", "area precision", "ms/image"]
    rows = []
    for r in results:
        recalls = [f"{f(c.recall)} ({c.anonymised}/{c.boxes})" for c in r.classes]
        ms = 1000 * r.seconds / max(r.images, 1)
        rows.append([" + ".join(r.sources), *recalls, f(r.region_precision), f(r.area_precision), f"{ms:.0f}"])
    table = "\n".join("| " + " | ".join(row) + " |" for row in [header, ["---"] * len(header), *rows])
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
