"""The one dataset layout everything is converted to: Ultralytics YOLO with a `data.yaml`.

`data.yaml` has no `path:` key, so Ultralytics resolves `images/train` and `images/val`
relative to the YAML's own folder and a dataset can be moved or copied as a whole.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
SPLITS = ("train", "val")
MANIFEST = "manifest.csv"  # beside data.yaml: file_stem, split, source of every photo (../shared/README.md)


@dataclass(frozen=True)
class Box:
    """One labelled box in original image pixels (x1, y1, x2, y2)."""

    label: str
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass
class LabelledImage:
    """An image with its boxes, from whatever format it came in."""

    path: Path
    width: int
    height: int
    boxes: list[Box] = field(default_factory=list)
    source: str = ""
    drive: tuple[str, str] | None = None  # (drive id, date) of frames from a city's own drives (review)

    @property
    def labels(self) -> set[str]:
        return {b.label for b in self.boxes}


@dataclass(frozen=True)
class YoloDataset:
    """A YOLO dataset on disk: class names and the image files of each split."""

    root: Path
    names: list[str]
    splits: dict[str, list[Path]]

    @property
    def data_yaml(self) -> Path:
        return self.root / "data.yaml"

    def box_counts(self) -> dict[str, dict[str, int]]:
        """Labelled boxes per split and class, read from the label files (what training sees)."""
        counts: dict[str, dict[str, int]] = {}
        for split, images in self.splits.items():
            ids = [read_yolo_label(image)[0] for image in images]
            per_class = np.bincount(np.concatenate([np.zeros(0, np.int64), *ids]), minlength=len(self.names))
            counts[split] = {name: int(n) for name, n in zip(self.names, per_class, strict=False)}
        return counts


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def label_path_for(image: Path) -> Path:
    """Ultralytics' rule: the last `images` folder becomes `labels`, the suffix `.txt`."""
    parts = list(image.parts)
    idx = len(parts) - 1 - parts[::-1].index("images")
    parts[idx] = "labels"
    return Path(*parts).with_suffix(".txt")


def read_yolo_label(image: Path) -> tuple[np.ndarray, np.ndarray]:
    """Class ids and normalised (xc, yc, w, h) rows of an image's label file; none if it has none."""
    label = label_path_for(image)
    return parse_yolo_label(label.read_text(encoding="utf-8") if label.is_file() else "")


def parse_yolo_label(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Class ids and normalised (xc, yc, w, h) rows of a YOLO label text."""
    rows = np.loadtxt(text.splitlines(), ndmin=2).reshape(-1, 5) if text.strip() else np.zeros((0, 5))
    return rows[:, 0].astype(np.int64), rows[:, 1:]


def read_names(data: dict) -> list[str]:
    names = data.get("names", [])
    if isinstance(names, dict):
        return [str(names[k]) for k in sorted(names, key=int)]
    return [str(n) for n in names]


def load_yolo_dataset(data_yaml: Path) -> YoloDataset:
    """Read a `data.yaml` (with or without `path:`) and list the images of each split."""
    data = yaml.safe_load(data_yaml.read_text(encoding="utf-8")) or {}
    root = (data_yaml.parent / data["path"]) if data.get("path") else data_yaml.parent
    splits: dict[str, list[Path]] = {}
    for split in ("train", "val", "test"):
        entries = data.get(split)
        if not entries:
            continue
        files: list[Path] = []
        for entry in entries if isinstance(entries, list) else [entries]:
            target = root / entry
            if target.is_dir():
                files.extend(sorted(p for p in target.rglob("*") if is_image(p)))
            elif target.suffix == ".txt":
                lines = target.read_text(encoding="utf-8").split()
                files.extend((target.parent / line).resolve() for line in lines)
        splits[split] = files
    return YoloDataset(root, read_names(data), splits)


def _safe_stem(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "img"


def place_file(src: Path, dst: Path) -> None:
    """Hard-link when possible (datasets can be large), copy otherwise."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def yolo_line(box: Box, class_id: int, width: int, height: int) -> str | None:
    """Normalised `cls xc yc w h`, clipped to the image; None for boxes with no area left."""
    x1, x2 = sorted((min(max(box.x1, 0.0), width), min(max(box.x2, 0.0), width)))
    y1, y2 = sorted((min(max(box.y1, 0.0), height), min(max(box.y2, 0.0), height)))
    if x2 - x1 < 1e-6 or y2 - y1 < 1e-6:
        return None
    xc, yc = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
    return f"{class_id} {xc:.6f} {yc:.6f} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}"


def write_yolo_dataset(
    out: Path, images: Iterable[LabelledImage], splits: Iterable[str], names: list[str]
) -> YoloDataset:
    """Write images (hard-linked) and labels into `out`, plus a `data.yaml` without `path:`.

    Boxes whose label is not in `names` must have been remapped or dropped before.
    """
    index = {n: i for i, n in enumerate(names)}
    used: set[str] = set()
    files: dict[str, list[Path]] = {s: [] for s in SPLITS}
    for image, split in zip(images, splits, strict=True):
        stem = _safe_stem(f"{image.source}__{image.path.stem}" if image.source else image.path.stem)
        unique, n = stem, 1
        while unique in used:
            n += 1
            unique = f"{stem}_{n}"
        used.add(unique)
        dst = out / "images" / split / f"{unique}{image.path.suffix.lower()}"
        place_file(image.path, dst)
        lines = [yolo_line(b, index[b.label], image.width, image.height) for b in image.boxes]
        label = label_path_for(dst)
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("".join(f"{line}\n" for line in lines if line), encoding="utf-8")
        files[split].append(dst)
    data = {"train": "images/train", "val": "images/val", "nc": len(names), "names": dict(enumerate(names))}
    (out / "data.yaml").write_text(
        "# Written by `stadtblick train import`; paths are relative to this file's folder.\n"
        + yaml.safe_dump(data, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    return YoloDataset(out, list(names), files)
