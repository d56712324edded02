"""Evaluation sets kept in the repository as an image list plus labels, the photos in the shared folder.

A listed dataset is a folder with

* `dataset.yaml`: `photos` (folder of the photos, relative to the shared folder), `names`, optionally
  `not_scored` (groups only kept out of training) and `pooled` (name -> groups reported together);
* `images.txt`: one `<path under photos> <group>` per line (`#` comments);
* `labels/<path under photos>.txt`: YOLO boxes; images without a label file have none.

`materialise` turns it into an ordinary YOLO dataset under `work/` (photos hard-linked or copied)
with a `groups.yaml` beside its `data.yaml`, which `training.compare` reads to report false alarms
per group (clean facades, posters, murals, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from training.datasets.layout import place_file, read_names

DATASET_FILE = "dataset.yaml"
LIST_FILE = "images.txt"
GROUPS_FILE = "groups.yaml"


@dataclass(frozen=True)
class ListedImage:
    path: str  # relative to the photos folder, e.g. train/mitwa_05a492b91dd1.jpg
    group: str


@dataclass
class ListedDataset:
    folder: Path
    photos: Path  # relative to the shared folder
    names: list[str]
    images: list[ListedImage]
    not_scored: set[str] = field(default_factory=set)
    pooled: dict[str, list[str]] = field(default_factory=dict)

    @property
    def scored(self) -> list[ListedImage]:
        return [im for im in self.images if im.group not in self.not_scored]


def is_listed(folder: Path) -> bool:
    return folder.is_dir() and (folder / DATASET_FILE).is_file() and (folder / LIST_FILE).is_file()


def read_image_list(path: Path) -> list[ListedImage]:
    """`<path> <group>` lines; blank lines and `#` comments are skipped."""
    images = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"{path}:{number}: expected '<image path> <group>', got {line!r}")
        images.append(ListedImage(*parts))
    return images


def load_listed(folder: Path) -> ListedDataset:
    meta = yaml.safe_load((folder / DATASET_FILE).read_text(encoding="utf-8")) or {}
    if "photos" not in meta:
        raise ValueError(f"{folder / DATASET_FILE} names no `photos` folder")
    return ListedDataset(
        folder,
        Path(meta["photos"]),
        read_names(meta),
        read_image_list(folder / LIST_FILE),
        set(meta.get("not_scored") or []),
        {str(k): list(v) for k, v in (meta.get("pooled") or {}).items()},
    )


def materialise(folder: Path, shared: Path, out: Path) -> Path:
    """Write the listed dataset as a YOLO dataset (one `val` split) into `out`; returns its data.yaml."""
    listed = load_listed(folder)
    photos = shared / listed.photos
    missing = [im.path for im in listed.scored if not (photos / im.path).is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} photos of {folder} are not under {photos}, e.g. {missing[0]}")
    groups: dict[str, str] = {}
    for im in listed.scored:
        name = Path(im.path).name
        if name in groups:
            raise ValueError(f"{folder / LIST_FILE}: two images named {name}")
        groups[name] = im.group
        place_file(photos / im.path, out / "images" / "val" / name)
        source = folder / "labels" / Path(im.path).with_suffix(".txt")
        label = out / "labels" / "val" / Path(name).with_suffix(".txt")
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text(source.read_text(encoding="utf-8") if source.is_file() else "", encoding="utf-8")
    data = {"val": "images/val", "nc": len(listed.names), "names": dict(enumerate(listed.names))}
    (out / "data.yaml").write_text(
        f"# Materialised from {folder} (photos: {photos}); re-created by `stadtblick train compare`.\n"
        + yaml.safe_dump(data, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    (out / GROUPS_FILE).write_text(
        yaml.safe_dump({"pooled": listed.pooled, "images": groups}, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    return out / "data.yaml"


def read_groups(data_yaml: Path) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Image name -> group and the pooled groups, from the `groups.yaml` beside a data.yaml (if any)."""
    path = data_yaml.parent / GROUPS_FILE
    if not path.is_file():
        return {}, {}
    meta = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return dict(meta.get("images") or {}), {str(k): list(v) for k, v in (meta.get("pooled") or {}).items()}
