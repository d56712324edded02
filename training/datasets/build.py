"""From raw sources to a training-ready dataset: read, merge, remap, group duplicates, split, write.

The import's provenance (sources, licence, remapping) is stored as `provenance.json` beside
`data.yaml`; the model card quotes it, so every published model says what it learnt from.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from training.datasets.hashing import DEFAULT_MAX_DISTANCE, duplicate_groups
from training.datasets.layout import YoloDataset, write_yolo_dataset
from training.datasets.merge import merge_sources
from training.datasets.split import grouped_stratified_split
from training.datasets.taxonomy import Taxonomy, remap

PROVENANCE_FILE = "provenance.json"


@dataclass
class BuildResult:
    dataset: YoloDataset
    provenance: dict


class UnmappedLabels(ValueError):
    """Strict import: some labels have no class in the taxonomy."""


def build_dataset(
    specs: list[str],
    taxonomy: Taxonomy,
    out: Path,
    val_fraction: float = 0.2,
    seed: int = 0,
    max_distance: int = DEFAULT_MAX_DISTANCE,
    licence: str = "",
    note: str = "",
    strict: bool = False,
    track: Callable[..., Iterable] = lambda it, **_: it,
) -> BuildResult:
    merged = merge_sources(specs)
    remapped = remap(merged.images, taxonomy)
    if strict and remapped.dropped:
        raise UnmappedLabels(
            f"labels not in taxonomy {taxonomy.detector}: {dict(remapped.dropped)} "
            f"(add them as aliases in datasets/{taxonomy.detector}.yaml)"
        )
    images = remapped.images
    groups = duplicate_groups([im.path for im in images], max_distance, track)
    splits = grouped_stratified_split(images, groups, val_fraction, seed)
    if out.exists():
        shutil.rmtree(out)
    dataset = write_yolo_dataset(out, images, splits, taxonomy.names)
    boxes = {
        s: dict(Counter(b.label for im, sp in zip(images, splits, strict=True) if sp == s for b in im.boxes))
        for s in ("train", "val")
    }
    provenance = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "detector": taxonomy.detector,
        "sources": [asdict(s) for s in merged.sources],
        "licence": licence,
        "note": note,
        "remapped": dict(remapped.mapped),
        "dropped_labels": dict(remapped.dropped),
        "duplicate_groups": len(set(groups)),
        "split": {"val_fraction": val_fraction, "seed": seed, "images": dict(Counter(splits)), "boxes": boxes},
    }
    (out / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return BuildResult(dataset, provenance)
