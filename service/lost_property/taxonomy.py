"""Municipal lost-property categories and the mapping of detector classes onto them.

The categories are the desk's (Taschen, Schirm, ...), not a detector's: any detector's class
names map onto them via `taxonomy.yaml`, and a class nobody listed lands in the fallback
category ("Sonstiges") instead of failing. The file ships inside the package;
`datasets/lost_property_taxonomy.yaml` links to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

TAXONOMY_FILE = Path(__file__).resolve().parent / "taxonomy.yaml"


@dataclass(frozen=True)
class Category:
    key: str
    label_de: str
    label_en: str
    words: tuple[str, ...]  # search words besides the labels, German and English


@dataclass(frozen=True, eq=False)  # hashed by identity: loaded once, cached
class Taxonomy:
    categories: dict[str, Category]
    classes: dict[str, str]  # normalised detector class name -> category key
    fallback: str

    def category_of_class(self, class_name: str) -> Category:
        """The category of a detector class; the fallback for classes the taxonomy does not list."""
        return self.categories[self.classes.get(class_key(class_name), self.fallback)]

    def get(self, key: str) -> Category:
        return self.categories[key]


def class_key(class_name: str) -> str:
    """'cell phone', 'Cell-Phone' and 'cell_phone' are one class."""
    return re.sub(r"[\s\-]+", "_", class_name.strip().lower())


@cache
def load_taxonomy(path: Path = TAXONOMY_FILE) -> Taxonomy:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    categories = {
        c["key"]: Category(c["key"], c["label_de"], c["label_en"], tuple(c.get("words", ()))) for c in raw["categories"]
    }
    classes = {class_key(name): key for name, key in raw["classes"].items()}
    unknown = {*classes.values(), raw["fallback"]} - categories.keys()
    if unknown:
        raise ValueError(f"{path}: classes map to unknown categories {sorted(unknown)}")
    return Taxonomy(categories, classes, raw["fallback"])
