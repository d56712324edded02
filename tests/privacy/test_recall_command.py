"""`stadtblick train anonymisation-recall` on a generated dataset with an exact anonymiser."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import jpeg_bytes
from privacy_helpers import FACE_AT, HEIGHT, PLATE_AT, SQUARE, WIDTH, loaded, scene

from service.inference import Detections
from service.privacy import AnonymiseConfig, Anonymiser
from service.privacy.anonymiser import Source
from service.privacy.sources import detector_source
from training.anonymisation_recall import measure_sources
from training.cli import main

MISSED_AT = (200, 24)  # a black 'face': neither class of the square detector reacts to black


def write_dataset(root: Path, missed: bool) -> Path:
    """Two val images with a face and a plate each; `missed` adds a labelled face nobody finds."""
    for split in ("images", "labels"):
        (root / split / "val").mkdir(parents=True, exist_ok=True)
    for i in range(2):
        rgb = scene(i)
        labels = [(0, FACE_AT), (1, PLATE_AT)]
        if missed and i == 1:
            rgb[MISSED_AT[1] : MISSED_AT[1] + SQUARE, MISSED_AT[0] : MISSED_AT[0] + SQUARE] = 0
            labels.append((0, MISSED_AT))
        (root / "images" / "val" / f"{i}.jpg").write_bytes(jpeg_bytes(rgb, quality=95))
        size = f"{SQUARE / WIDTH:.6f} {SQUARE / HEIGHT:.6f}"
        rows = [f"{c} {(x + SQUARE / 2) / WIDTH:.6f} {(y + SQUARE / 2) / HEIGHT:.6f} {size}" for c, (x, y) in labels]
        (root / "labels" / "val" / f"{i}.txt").write_text("\n".join(rows) + "\n")
    data = root / "data.yaml"
    data.write_text("val: images/val\nnames:\n  0: face\n  1: licence_plate\n")
    return data


def run(tmp_path: Path, weights: Path, missed: bool) -> dict:
    data = write_dataset(tmp_path / "data", missed)
    out = tmp_path / "report"
    args = ["anonymisation-recall", "--data", str(data), "--weights-dir", str(weights), "--sources", "anonymize"]
    assert main([*args, "--out", str(out)]) == 0
    assert "| anonymize |" in (out / "anonymisation_recall.md").read_text()
    return json.loads((out / "anonymisation_recall.json").read_text())


def test_everything_obscured_is_full_recall(tmp_path: Path, privacy_weights: Path) -> None:
    [result] = run(tmp_path, privacy_weights, missed=False)["results"]
    assert result["sources"] == ["anonymize"] and result["images"] == 2
    assert result["recall"] == {"face": 1.0, "licence_plate": 1.0}
    assert result["region_precision"] == 1.0  # every obscured region touches a labelled box
    assert 0.2 < result["area_precision"] < 1.0  # the margins and near misses are not labelled


def test_a_missed_face_lowers_face_recall_only(tmp_path: Path, privacy_weights: Path) -> None:
    [result] = run(tmp_path, privacy_weights, missed=True)["results"]
    assert result["recall"] == {"face": pytest.approx(2 / 3), "licence_plate": 1.0}
    assert [(c["name"], c["boxes"], c["anonymised"]) for c in result["classes"]] == [
        ("face", 3, 2),
        ("licence_plate", 2, 2),
    ]


class Blind:
    """A source that never finds anything."""

    def detect(self, image_rgb: np.ndarray, params: object = None) -> Detections:
        return Detections()


def test_each_source_alone_and_together(tmp_path: Path, privacy_weights: Path) -> None:
    anonymize = detector_source(loaded(privacy_weights)["anonymize"])
    both = Anonymiser([anonymize, Source("blind", Blind(), frozenset({"face"}))], AnonymiseConfig())
    results = measure_sources(both, write_dataset(tmp_path / "d", missed=False), "val")
    assert [r.sources for r in results] == [["anonymize"], ["blind"], ["anonymize", "blind"]]
    assert [r.classes[0].recall for r in results] == [1.0, 0.0, 1.0]
