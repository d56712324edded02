"""Merging several imported sources into one image list, with a per-source provenance summary."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from training.datasets.importers import read_source
from training.datasets.layout import LabelledImage


@dataclass
class SourceSummary:
    spec: str
    images: int
    boxes: int
    labels: dict[str, int]
    drives: dict[str, list[str]] = field(default_factory=dict)  # drive id -> its dates, for sources that know


@dataclass
class Merged:
    images: list[LabelledImage] = field(default_factory=list)
    sources: list[SourceSummary] = field(default_factory=list)


def merge_sources(specs: list[str]) -> Merged:
    """Read each `FORMAT:PATH` source and concatenate; file names are made unique at write time."""
    merged = Merged()
    for spec in specs:
        images = read_source(spec)
        labels = Counter(b.label for im in images for b in im.boxes)
        drives: dict[str, set[str]] = {}
        for im in images:
            if im.drive:
                drives.setdefault(im.drive[0], set()).add(im.drive[1])
        summary = SourceSummary(spec, len(images), sum(labels.values()), dict(labels))
        summary.drives = {d: sorted(dates) for d, dates in sorted(drives.items())}
        merged.sources.append(summary)
        merged.images.extend(images)
    return merged
