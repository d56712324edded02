"""The validation report flags each kind of seeded defect (one test per defect)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import pytest
import training_synth as synth

from training.cli import main
from training.datasets.layout import Box, LabelledImage, label_path_for, write_yolo_dataset
from training.datasets.validate import validate_dataset


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    """A clean 12-image dataset (8 train, 4 val)."""
    drawn = synth.make_images(tmp_path / "src", 12, seed=11)
    images = [LabelledImage(p, 64, 48, [Box(lb, *xy) for lb, *xy in boxes]) for p, boxes in drawn]
    write_yolo_dataset(tmp_path / "ds", images, ["train"] * 8 + ["val"] * 4, list(synth.CLASSES))
    return tmp_path / "ds"


def _images(ds: Path, split: str) -> list[Path]:
    return sorted((ds / "images" / split).iterdir())


def _kinds(ds: Path) -> dict[str, int]:
    return dict(validate_dataset(ds / "data.yaml").kinds())


def test_clean_dataset_passes(clean: Path) -> None:
    report = validate_dataset(clean / "data.yaml")
    assert report.ok and not report.issues
    assert report.images == {"train": 8, "val": 4}


def test_missing_label(clean: Path) -> None:
    label_path_for(_images(clean, "train")[0]).unlink()
    assert _kinds(clean) == {"missing_label": 1}


def test_empty_label(clean: Path) -> None:
    label_path_for(_images(clean, "train")[0]).write_text("")
    assert _kinds(clean) == {"empty_label": 1}


def test_out_of_range_box(clean: Path) -> None:
    label_path_for(_images(clean, "train")[0]).write_text("0 0.9 0.5 0.4 0.2\n")
    assert _kinds(clean) == {"out_of_range": 1}


def test_unknown_class(clean: Path) -> None:
    label_path_for(_images(clean, "val")[0]).write_text("5 0.5 0.5 0.2 0.2\n")
    assert _kinds(clean) == {"unknown_class": 1}


def test_malformed_label(clean: Path) -> None:
    label_path_for(_images(clean, "val")[1]).write_text("0 0.5 0.5\n")
    assert _kinds(clean) == {"malformed_label": 1}


def test_corrupt_image(clean: Path) -> None:
    image = _images(clean, "train")[2]
    image.write_bytes(image.read_bytes()[:200])
    assert _kinds(clean) == {"corrupt_image": 1}


def test_orphan_label(clean: Path) -> None:
    (clean / "labels" / "train" / "ghost.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    assert _kinds(clean) == {"orphan_label": 1}


def test_exact_duplicate_within_split(clean: Path) -> None:
    src = _images(clean, "train")[0]
    shutil.copy(src, src.with_name("dup.jpg"))
    shutil.copy(label_path_for(src), label_path_for(src.with_name("dup.jpg")))
    assert _kinds(clean) == {"exact_duplicate": 1}


def test_near_duplicate_within_split(clean: Path) -> None:
    src = _images(clean, "train")[0]
    img = cv2.imread(str(src))
    cv2.imwrite(str(src.with_name("resized.png")), cv2.resize(img, (96, 72)))  # re-encoded + resized copy
    shutil.copy(label_path_for(src), label_path_for(src.with_name("resized.png")))
    assert _kinds(clean) == {"near_duplicate": 1}


def test_duplicate_across_splits(clean: Path) -> None:
    src = _images(clean, "train")[0]
    dst = clean / "images" / "val" / "leak.jpg"
    shutil.copy(src, dst)
    shutil.copy(label_path_for(src), label_path_for(dst))
    assert _kinds(clean) == {"exact_duplicate": 1, "split_leak": 1}


def test_cli_exit_code_and_json_report(clean: Path, tmp_path: Path) -> None:
    assert main(["validate", str(clean / "data.yaml")]) == 0
    label_path_for(_images(clean, "val")[0]).write_text("7 0.5 0.5 0.2 0.2\n")
    report = tmp_path / "report.json"
    assert main(["validate", str(clean / "data.yaml"), "--json", str(report)]) == 1
    body = json.loads(report.read_text())
    assert body["ok"] is False and body["counts"] == {"unknown_class": 1}
    assert body["issues"][0]["severity"] == "error"
