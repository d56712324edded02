"""A candidate and the untouched COCO model it starts from, side by side on the same images.

A detector fine-tuned from COCO can forget what COCO taught it (lost_property 1.1.0 lost a
third of the base's mAP50 on its COCO classes on independent photos). So the comparison that
matters is per class against the base, on three kinds of sets: the split, the COCO-sourced
images the candidate never trained on, and each source of the split as `manifest.csv` names it.
The base is the COCO YOLOv5n from the shared folder, its COCO rows mapped onto the candidate's
classes (classes COCO does not know score 0), run through the same inference core.
"""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnx

from service.inference import OnnxDetector
from service.inference.card import ModelCard
from training.compose import coco_branch, compose
from training.datasets.layout import MANIFEST, load_yolo_dataset
from training.datasets.taxonomy import load_taxonomy, normalise
from training.evaluate import Evaluation, predict, resampled_differences, score
from training.set_comparison import SetComparison, comparison_markdown

BASE_IMGSZ = 640  # the size the COCO YOLOv5n was trained at and `import-yolov5` serves it at
UNSEEN_COCO = "COCO-sourced, not in train"


def coco_classes(names: list[str]) -> list[str]:
    """The candidate's classes the COCO model knows."""
    coco = set(load_taxonomy("coco").names)
    return [n for n in names if normalise(n) in coco]


def image_sources(data_yaml: Path) -> dict[str, str]:
    """Image file stem -> its source repository, from the dataset's manifest.csv (empty without one)."""
    path = data_yaml.parent / MANIFEST
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return {
        Path(row.get("file_stem") or row.get("file") or "").stem: row.get("source_repo") or row.get("source") or "?"
        for row in rows
    }


def evaluation_sets(data_yaml: Path, split: str = "val") -> dict[str, list[Path]]:
    """The split, its COCO-sourced images from every split but train, and the split per source."""
    ds = load_yolo_dataset(data_yaml)
    files = ds.splits.get(split) or []
    sources = image_sources(data_yaml)
    sets = {split: files}
    unseen = [p for s, fs in ds.splits.items() if s != "train" for p in fs if "coco" in sources.get(p.stem, "").lower()]
    if unseen:
        sets[UNSEEN_COCO] = unseen
    for source in sorted({sources[p.stem] for p in files if p.stem in sources}):
        sets[f"{split} from {source}"] = [p for p in files if sources.get(p.stem) == source]
    return sets


@contextmanager
def coco_baseline(card: ModelCard, shared: Path | None = None, imgsz: int = BASE_IMGSZ) -> Iterator[OnnxDetector]:
    """The untouched COCO YOLOv5n as a detector with the candidate's classes (a temporary ONNX file)."""
    names = card.class_names
    model = compose([coco_branch(names, imgsz, shared)], len(names), imgsz)
    untouched = card.thresholds.model_copy(update={"merge_iou": None})  # plain NMS, as `import-yolov5` serves it
    base_card = card.model_copy(
        update={
            "version": f"coco-yolov5n@{imgsz}",
            "input_size": (imgsz, imgsz),
            "tiling": None,
            "thresholds": untouched,
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "coco.onnx"
        onnx.save(model, str(path))
        yield OnnxDetector(path, base_card)


def _coco_mean(evaluation: Evaluation, coco: list[str]) -> float | None:
    aps = [c.ap50 for c in evaluation.classes if c.name in coco and c.ap50 is not None]
    return sum(aps) / len(aps) if aps else None


def compare_sets(
    candidate: OnnxDetector,
    base: OnnxDetector,
    data_yaml: Path,
    sets: dict[str, list[Path]],
    track: Callable[..., Iterable] = lambda it, **_: it,
    bootstrap: int = 0,
    seed: int = 0,
) -> list[SetComparison]:
    """Both detectors run once over the union of the sets; each set is scored on its images, and
    with `bootstrap` also on that many resamples of them (the noise of a few-box set)."""
    names = candidate.card.class_names
    coco = coco_classes(names)
    files = list(dict.fromkeys(p for fs in sets.values() for p in fs))
    runs = {d: {r.path: r for r in predict(d, data_yaml, track=track, files=files)} for d in (candidate, base)}
    result = []
    for name, subset in sets.items():
        cand, ref = (score(d, [runs[d][p] for p in subset], data_yaml, name)[0] for d in (candidate, base))
        rows = [
            {
                "name": c.name,
                "labels": c.labels,
                "candidate_ap50": c.ap50,
                "base_ap50": b.ap50 if c.name in coco else None,
            }
            for c, b in zip(cand.classes, ref.classes, strict=True)
        ]
        comparison = SetComparison(name, len(subset), rows, _coco_mean(cand, coco), _coco_mean(ref, coco))
        if bootstrap and comparison.base_coco_map50 is not None:
            ids = [names.index(n) for n in coco]
            diffs = resampled_differences(
                [[runs[d][p] for p in subset] for d in (candidate, base)], ids, len(names), bootstrap, seed
            )
            comparison.difference_interval = tuple(float(v) for v in np.nanpercentile(diffs, [2.5, 97.5]))
            comparison.not_above = float(np.mean(diffs <= 0))
        result.append(comparison)
    return result


def write_comparison(sets: list[SetComparison], base: str, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "baseline.json").write_text(
        json.dumps({"base": base, "sets": [asdict(s) for s in sets]}, indent=2) + "\n", encoding="utf-8"
    )
    report = out_dir / "baseline.md"
    report.write_text(comparison_markdown(sets, base), encoding="utf-8")
    return report
