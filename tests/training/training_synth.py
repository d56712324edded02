"""Tiny generated datasets: coloured squares and circles on noisy backgrounds, in four formats.

Everything is drawn with OpenCV in milliseconds, so tests never depend on downloaded data.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np

CLASSES = ("square", "circle")
MARGIN = 4  # shapes keep off the border: Ultralytics' val does not clip boxes to the image, the service does


def draw(
    rng: np.random.Generator, size: tuple[int, int]
) -> tuple[np.ndarray, list[tuple[str, float, float, float, float]]]:
    """One BGR image with 1-2 large shapes; returns it with (label, x1, y1, x2, y2) boxes."""
    h, w = size
    img = rng.integers(90, 150, (h, w, 3), dtype=np.uint8)
    boxes = []
    for _ in range(int(rng.integers(1, 3))):
        label = CLASSES[int(rng.integers(0, 2))]
        s = int(rng.integers(min(h, w) // 4, min(h, w) // 2))
        x1, y1 = int(rng.integers(MARGIN, w - s - MARGIN)), int(rng.integers(MARGIN, h - s - MARGIN))
        if label == "square":
            cv2.rectangle(img, (x1, y1), (x1 + s, y1 + s), (30, 30, 220), -1)
        else:
            cv2.circle(img, (x1 + s // 2, y1 + s // 2), s // 2, (220, 60, 30), -1)
        boxes.append((label, float(x1), float(y1), float(x1 + s), float(y1 + s)))
    return img, boxes


def make_images(folder: Path, n: int, seed: int, size=(48, 64)) -> list[tuple[Path, list]]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        img, boxes = draw(rng, size)
        path = folder / f"img{seed}_{i:03d}.jpg"
        cv2.imwrite(str(path), img)
        out.append((path, boxes))
    return out


def write_coco(root: Path, n: int, seed: int) -> Path:
    items = make_images(root / "images", n, seed)
    cats = [{"id": i + 1, "name": c} for i, c in enumerate(CLASSES)]
    images, anns = [], []
    for i, (path, boxes) in enumerate(items):
        h, w = cv2.imread(str(path)).shape[:2]
        images.append({"id": i, "file_name": path.name, "width": w, "height": h})
        for label, x1, y1, x2, y2 in boxes:
            anns.append(
                {
                    "id": len(anns),
                    "image_id": i,
                    "category_id": CLASSES.index(label) + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
    path = root / "annotations.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return path


def write_voc(root: Path, n: int, seed: int, label_map: dict[str, str] | None = None) -> Path:
    items = make_images(root / "JPEGImages", n, seed)
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    for path, boxes in items:
        ann = ET.Element("annotation")
        ET.SubElement(ann, "filename").text = path.name
        size = ET.SubElement(ann, "size")
        h, w = cv2.imread(str(path)).shape[:2]
        ET.SubElement(size, "width").text, ET.SubElement(size, "height").text = str(w), str(h)
        for label, x1, y1, x2, y2 in boxes:
            obj = ET.SubElement(ann, "object")
            ET.SubElement(obj, "name").text = (label_map or {}).get(label, label)
            bb = ET.SubElement(obj, "bndbox")
            for k, v in zip(("xmin", "ymin", "xmax", "ymax"), (x1 + 1, y1 + 1, x2, y2), strict=True):
                ET.SubElement(bb, k).text = str(int(v))
        ET.ElementTree(ann).write(root / "Annotations" / f"{path.stem}.xml")
    return root / "Annotations"


def write_yolo(root: Path, n: int, seed: int) -> Path:
    items = make_images(root / "images" / "all", n, seed)
    (root / "labels" / "all").mkdir(parents=True, exist_ok=True)
    for path, boxes in items:
        h, w = cv2.imread(str(path)).shape[:2]
        lines = [
            f"{CLASSES.index(lb)} {(x1 + x2) / 2 / w} {(y1 + y2) / 2 / h} {(x2 - x1) / w} {(y2 - y1) / h}"
            for lb, x1, y1, x2, y2 in boxes
        ]
        (root / "labels" / "all" / f"{path.stem}.txt").write_text("\n".join(lines) + "\n")
    (root / "data.yaml").write_text("names:\n  0: square\n  1: circle\n")
    return root


def write_labelme(root: Path, n: int, seed: int) -> Path:
    for path, boxes in make_images(root, n, seed):
        h, w = cv2.imread(str(path)).shape[:2]
        shapes = [
            {"label": lb, "points": [[x1, y1], [x2, y2]], "shape_type": "rectangle"} for lb, x1, y1, x2, y2 in boxes
        ]
        (root / f"{path.stem}.json").write_text(
            json.dumps({"shapes": shapes, "imagePath": path.name, "imageWidth": w, "imageHeight": h})
        )
    return root


SHAPES_TAXONOMY = """\
detector: shapes
description: Test detector for generated squares and circles.
intended_use: Automated tests only.
not_intended_use: Anything real.
limitations: Knows two synthetic shapes.
notes: "Circles drawn **thinner** than 2 px are out of scope."
classes:
  - {name: square, label_de: Quadrat, label_en: square, aliases: [box, viereck]}
  - {name: circle, label_de: Kreis, label_en: circle, aliases: [disc, kreis]}
"""

SHAPES_RECIPE = """\
arch: yolov8n.yaml
imgsz: 64
epochs: 20
patience: 10
batch: 8
train_args: {optimizer: AdamW, lr0: 0.005, warmup_epochs: 0, mosaic: 0.0, fliplr: 0.5,
             hsv_h: 0.0, hsv_s: 0.0, hsv_v: 0.2, scale: 0.2, translate: 0.05}
"""
