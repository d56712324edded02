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
        merged.sources.append(SourceSummary(spec, len(images), sum(labels.values()), dict(labels)))
        merged.images.extend(images)
    return merged
