"""The street-conditions dataset builder: real data kept, every box inside its image, plates where labelled."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from training.corruptions import seeded
from training.datasets.layout import label_path_for, load_yolo_dataset, read_yolo_label
from training.synth_plates import MIN_SIDE, main, paste_plate

H, W = 240, 320


def road(seed: int) -> np.ndarray:
    """A smooth grey gradient: anything with edges on it was pasted."""
    ys, xs = np.mgrid[0:H, 0:W]
    grey = 70 + seed * 5 + xs * 40 / W + ys * 30 / H
    return np.repeat(grey[..., None], 3, axis=2).astype(np.uint8)


def write_split(root: Path, split: str, n: int, labelled: bool) -> None:
    (root / "images" / split).mkdir(parents=True, exist_ok=True)
    (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = road(i)
        rows = []
        if labelled:  # a plate-like white box with dark marks, and a 'face' disc
            img[150:180, 100:200] = 240
            img[158:172, 110:190:12] = 20
            cv2.circle(img, (60, 60), 20, (90, 140, 200), -1)
            rows = ["1 0.468750 0.687500 0.312500 0.125000", "0 0.187500 0.250000 0.125000 0.166667"]
        cv2.imwrite(str(root / "images" / split / f"{split}_{i}.jpg"), img)
        (root / "labels" / split / f"{split}_{i}.txt").write_text("".join(f"{r}\n" for r in rows))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    anonymize, road_damage = root / "anonymize", root / "road_damage"
    write_split(anonymize, "train", 4, labelled=True)
    write_split(anonymize, "val", 2, labelled=True)
    (anonymize / "data.yaml").write_text(
        "train: images/train\nval: images/val\nnames:\n  0: face\n  1: licence_plate\n"
    )
    write_split(road_damage, "train", 3, labelled=False)
    (road_damage / "data.yaml").write_text("train: images/train\nnames:\n  0: pothole\n")
    out = root / "out"
    args = ["--src", str(anonymize), "--out", str(out), "--synthetic", "6", "--small", "4", "--workers", "2"]
    assert main([*args, "--corrupt-share", "0"]) == 0
    return out


def test_real_data_is_kept_and_val_is_the_real_val(built: Path) -> None:
    data = yaml.safe_load((built / "data.yaml").read_text())
    assert "path" not in data and data["names"] == {0: "face", 1: "licence_plate"}
    ds = load_yolo_dataset(built / "data.yaml")
    names = sorted(p.name for p in ds.splits["train"])
    assert len(names) == 4 + 4 + 6 + 4  # real, one corrupted copy each, synthetic, small
    assert {f"train_{i}.jpg" for i in range(4)} <= set(names)
    source = built.parent / "anonymize"
    assert sorted(p.name for p in ds.splits["val"]) == ["val_0.jpg", "val_1.jpg"]
    for image in ds.splits["val"]:
        assert image.read_bytes() == (source / "images" / "val" / image.name).read_bytes()
        assert label_path_for(image).read_text() == (source / "labels" / "val" / f"{image.stem}.txt").read_text()


def test_every_box_lies_inside_its_image(built: Path) -> None:
    for image in load_yolo_dataset(built / "data.yaml").splits["train"]:
        h, w = cv2.imread(str(image)).shape[:2]
        cls, xywh = read_yolo_label(image)
        assert set(cls) <= {0, 1}
        x1, y1 = (xywh[:, 0] - xywh[:, 2] / 2) * w, (xywh[:, 1] - xywh[:, 3] / 2) * h
        x2, y2 = (xywh[:, 0] + xywh[:, 2] / 2) * w, (xywh[:, 1] + xywh[:, 3] / 2) * h
        assert (x1 >= -0.01).all() and (y1 >= -0.01).all() and (x2 <= w + 0.01).all() and (y2 <= h + 0.01).all()
        assert (np.minimum(x2 - x1, y2 - y1) >= MIN_SIDE - 0.01).all()


def test_synthetic_images_show_plates_where_their_labels_say(built: Path) -> None:
    """On the smooth road every pixel with detail was pasted: each plate box holds edges (the characters)."""
    for image in sorted((built / "images" / "train").glob("synthetic_*.jpg")):
        grey = cv2.imread(str(image), cv2.IMREAD_GRAYSCALE).astype(float)
        h, w = grey.shape
        cls, xywh = read_yolo_label(image)
        assert (cls == 1).any()
        for c, (xc, yc, bw, bh) in zip(cls, xywh, strict=True):
            x1, y1, x2, y2 = (
                int(xc * w - bw * w / 2),
                int(yc * h - bh * h / 2),
                int(xc * w + bw * w / 2),
                int(yc * h + bh * h / 2),
            )
            if c == 1 and min(x2 - x1, y2 - y1) >= 8:
                assert grey[y1:y2, x1:x2].std() > 10, (image.name, (x1, y1, x2, y2))


@pytest.mark.parametrize("seed", range(8))
def test_a_pasted_plate_fills_its_box(seed: int) -> None:
    img = road(0)
    before = img.copy()
    taken: list[np.ndarray] = []
    box = paste_plate(img, taken, seeded("paste", "test", seed))
    assert box is not None and taken == [box]
    x1, y1, x2, y2 = np.round(box).astype(int)
    assert 0 <= x1 < x2 <= W and 0 <= y1 < y2 <= H
    changed = np.abs(img.astype(int) - before).max(axis=2) > 12
    # a warped rectangle covers most of its own bounding box (a bumper patch may lie around it)
    assert changed[y1:y2, x1:x2].mean() > 0.45
