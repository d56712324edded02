"""A detector's class list (`datasets/<detector>.yaml`) and the remapping of foreign labels onto it.

Municipal photos come labelled "Schlagloch", "pot hole" or "D40"; the taxonomy's names,
German and English labels and `aliases` all map onto one stable class id.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

from service.inference.card import ClassLabel
from service.inference.tiling import TilingConfig
from training.datasets.layout import Box, LabelledImage
from training.paths import taxonomy_dir


class TaxonomyClass(BaseModel):
    name: str = Field(pattern=r"^[a-z0-9_]+$")
    label_de: str
    label_en: str
    aliases: list[str] = []


class Taxonomy(BaseModel):
    """The YAML file's schema; the texts feed the model card's transparency section."""

    detector: str
    description: str = ""
    intended_use: str = ""
    not_intended_use: str = ""
    limitations: str = ""
    enabled_by_default: bool = Field(
        True, description="Run on /v1/detect when the request names no detectors (false: internal detectors)"
    )
    tiling: TilingConfig | None = Field(
        None, description="Sliced inference for frames this large, copied into every model card (null: never)"
    )
    notes: str = Field(
        "", description="Maintainers' notes (Markdown) for the model card: what a re-export must not lose"
    )
    classes: list[TaxonomyClass]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.classes]

    def class_labels(self) -> list[ClassLabel]:
        return [
            ClassLabel(id=i, name=c.name, label_de=c.label_de, label_en=c.label_en) for i, c in enumerate(self.classes)
        ]

    def lookup(self) -> dict[str, str]:
        """Normalised spelling -> class name, for every name, label and alias."""
        table: dict[str, str] = {}
        for c in self.classes:
            for spelling in (c.name, c.label_de, c.label_en, *c.aliases):
                table[normalise(spelling)] = c.name
        return table


def normalise(label: str) -> str:
    return re.sub(r"[\s_\-]+", "_", label.strip().casefold())


def same_classes(a: list[str], b: list[str]) -> bool:
    """Same classes in the same order, however spelt: a dataset's `cell phone` is the card's `cell_phone`."""
    return [normalise(n) for n in a] == [normalise(n) for n in b]


def load_taxonomy(detector: str, folder: Path | None = None) -> Taxonomy:
    path = taxonomy_dir(folder) / f"{detector}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no taxonomy for detector {detector!r}: {path} is missing")
    return Taxonomy.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@dataclass
class RemapResult:
    images: list[LabelledImage]
    mapped: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)


def remap(images: list[LabelledImage], taxonomy: Taxonomy) -> RemapResult:
    """Rename every box label to its taxonomy class; count and drop labels the taxonomy lacks."""
    table = taxonomy.lookup()
    result = RemapResult([])
    for image in images:
        kept = []
        for box in image.boxes:
            name = table.get(normalise(box.label))
            if name is None:
                result.dropped[box.label] += 1
                continue
            result.mapped[f"{box.label} -> {name}"] += 1
            kept.append(Box(name, box.x1, box.y1, box.x2, box.y2))
        result.images.append(LabelledImage(image.path, image.width, image.height, kept, image.source))
    return result
