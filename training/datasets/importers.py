"""Readers for the annotation formats municipalities bring: YOLO txt, COCO JSON, Pascal VOC XML, LabelMe.

Each reader returns `LabelledImage`s with class *names* (not ids), so sources with different
class lists can be remapped to one taxonomy and merged before anything is written.
"""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import yaml
from PIL import Image, UnidentifiedImageError

from training.datasets.layout import Box, LabelledImage, is_image, label_path_for, read_names
from training.datasets.review_source import read_review

log = logging.getLogger(__name__)
Reader = Callable[[Path], list[LabelledImage]]


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file header, or None when the image cannot be opened."""
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, UnidentifiedImageError):
        return None


def _find_image(candidates: list[Path]) -> Path | None:
    return next((p for p in candidates if p.is_file()), None)


def _sized(path: Path, width: int, height: int) -> tuple[int, int] | None:
    return (width, height) if width > 0 and height > 0 else image_size(path)


def read_yolo(root: Path) -> list[LabelledImage]:
    """A YOLO folder: `images/**` with `labels/**` beside, names from `data.yaml` or `classes.txt`."""
    if (root / "data.yaml").is_file():
        names = read_names(yaml.safe_load((root / "data.yaml").read_text(encoding="utf-8")) or {})
    elif (root / "classes.txt").is_file():
        names = (root / "classes.txt").read_text(encoding="utf-8").split("\n")
        names = [n.strip() for n in names if n.strip()]
    else:
        names = []
    out = []
    for path in sorted(p for p in root.rglob("*") if is_image(p) and "images" in p.relative_to(root).parts):
        size = image_size(path)
        if size is None:
            log.warning("skipping unreadable image %s", path)
            continue
        w, h = size
        boxes = []
        label = label_path_for(path)
        lines = label.read_text(encoding="utf-8").splitlines() if label.is_file() else []
        for line in lines:
            parts = line.split()
            if len(parts) != 5:
                continue
            cid, xc, yc, bw, bh = int(float(parts[0])), *map(float, parts[1:])
            name = names[cid] if 0 <= cid < len(names) else str(cid)
            boxes.append(Box(name, (xc - bw / 2) * w, (yc - bh / 2) * h, (xc + bw / 2) * w, (yc + bh / 2) * h))
        out.append(LabelledImage(path, w, h, boxes, root.name))
    return out


def read_coco(annotation_file: Path) -> list[LabelledImage]:
    """COCO detection JSON; images are looked up beside the JSON or in an `images/` folder."""
    data = json.loads(annotation_file.read_text(encoding="utf-8"))
    categories = {c["id"]: c["name"] for c in data.get("categories", [])}
    boxes: dict[int, list[Box]] = {}
    for ann in data.get("annotations", []):
        if ann.get("iscrowd"):
            continue
        x, y, w, h = ann["bbox"]
        boxes.setdefault(ann["image_id"], []).append(Box(categories[ann["category_id"]], x, y, x + w, y + h))
    base = annotation_file.parent
    out = []
    for img in data.get("images", []):
        rel = Path(img["file_name"])
        path = _find_image([base / rel, base / "images" / rel, base.parent / "images" / rel, base / rel.name])
        size = path and _sized(path, img.get("width", 0), img.get("height", 0))
        if not path or not size:
            log.warning("skipping COCO image %s: file missing or unreadable", rel)
            continue
        out.append(LabelledImage(path, *size, boxes.get(img["id"], []), annotation_file.stem))
    return out


def read_voc(folder: Path) -> list[LabelledImage]:
    """Pascal VOC XML files anywhere below `folder`; images beside them or in `JPEGImages/`."""
    out = []
    for xml_file in sorted(folder.rglob("*.xml")):
        root = ET.parse(xml_file).getroot()
        filename = root.findtext("filename") or f"{xml_file.stem}.jpg"
        path = _find_image(
            [xml_file.parent / filename, xml_file.parent.parent / "JPEGImages" / filename]
            + [xml_file.with_suffix(s) for s in (".jpg", ".jpeg", ".png")]
        )
        size = root.find("size")
        w = int(float(size.findtext("width", "0"))) if size is not None else 0
        h = int(float(size.findtext("height", "0"))) if size is not None else 0
        dims = path and _sized(path, w, h)
        if not path or not dims:
            log.warning("skipping VOC annotation %s: image missing or unreadable", xml_file)
            continue
        boxes = []
        for obj in root.iter("object"):
            bb = obj.find("bndbox")
            if bb is None:
                continue
            x1, y1, x2, y2 = (float(bb.findtext(k, "0")) for k in ("xmin", "ymin", "xmax", "ymax"))
            boxes.append(Box(obj.findtext("name", "").strip(), x1 - 1, y1 - 1, x2, y2))  # VOC is 1-based
        out.append(LabelledImage(path, *dims, boxes, folder.name))
    return out


def read_labelme(folder: Path) -> list[LabelledImage]:
    """LabelMe JSON files below `folder`; rectangles and polygons become their bounding boxes."""
    out = []
    for json_file in sorted(folder.rglob("*.json")):
        data = json.loads(json_file.read_text(encoding="utf-8"))
        if "shapes" not in data:
            continue
        rel = data.get("imagePath") or f"{json_file.stem}.jpg"
        path = _find_image([json_file.parent / rel, json_file.parent / Path(rel).name])
        dims = path and _sized(path, data.get("imageWidth") or 0, data.get("imageHeight") or 0)
        if not path or not dims:
            log.warning("skipping LabelMe file %s: image missing or unreadable", json_file)
            continue
        boxes = []
        for shape in data["shapes"]:
            xs = [p[0] for p in shape.get("points", [])]
            ys = [p[1] for p in shape.get("points", [])]
            if len(xs) >= 2 and shape.get("shape_type", "polygon") in ("rectangle", "polygon"):
                boxes.append(Box(shape["label"].strip(), min(xs), min(ys), max(xs), max(ys)))
        out.append(LabelledImage(path, *dims, boxes, folder.name))
    return out


READERS: dict[str, Reader] = {
    "yolo": read_yolo,
    "coco": read_coco,
    "voc": read_voc,
    "labelme": read_labelme,
    "review": read_review,
}


def read_source(spec: str) -> list[LabelledImage]:
    """Read `FORMAT:PATH` (e.g. `coco:fotos/annotations.json`, `voc:fotos/xml`)."""
    fmt, sep, path = spec.partition(":")
    if not sep or fmt not in READERS:
        raise ValueError(f"source {spec!r} must be FORMAT:PATH with FORMAT one of {', '.join(READERS)}")
    target = Path(path)
    if not target.exists():
        raise FileNotFoundError(f"source path {target} does not exist")
    return READERS[fmt](target)
