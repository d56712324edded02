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
    both = Anonymiser([anonymize, Source("blind", Blind(), ("face",), frozenset({"face"}))], AnonymiseConfig())
    results = measure_sources(both, write_dataset(tmp_path / "d", missed=False), "val")
    assert [r.sources for r in results] == [["anonymize"], ["blind"], ["anonymize", "blind"]]
    assert [r.classes[0].recall for r in results] == [1.0, 0.0, 1.0]


def robustness(tmp_path: Path, weights: Path, *extra: str) -> dict:
    data = write_dataset(tmp_path / "data", missed=False)
    out = tmp_path / "robust"
    args = ["anonymisation-recall", "--data", str(data), "--weights-dir", str(weights), "--sources", "anonymize"]
    assert main([*args, "--out", str(out), *extra]) == 0
    assert "# Anonymisation robustness" in (out / "anonymisation_robustness.md").read_text()
    return json.loads((out / "anonymisation_robustness.json").read_text())


def test_corruptions_are_measured_per_corruption_and_size(tmp_path: Path, privacy_weights: Path) -> None:
    payload = robustness(tmp_path, privacy_weights, "--corruptions", "clean,downscale,jpeg")
    [result] = payload["results"]
    clean, small, jpeg = (result["corruptions"][c] for c in ("clean", "downscale", "jpeg"))
    assert clean["recall"] == {"face": 1.0, "licence_plate": 1.0}
    # 64 px squares are counted in the >=32 bin; shrunk to 8-32 px they drop below the detector's window
    assert clean["recall_by_size"]["licence_plate"][">=32"] == 1.0
    assert small["recall"]["face"] == 0.0 and small["recall"]["licence_plate"] < 1.0
    for name in ("face", "licence_plate"):
        assert {k for k, v in small["recall_by_size"][name].items() if v is not None} <= {"8-16", "16-32"}
    assert jpeg["recall"]["licence_plate"] == 1.0
    # the means are over the corruptions only, clean is reported beside them
    mean = (small["recall"]["licence_plate"] + jpeg["recall"]["licence_plate"]) / 2
    assert result["mean_recall"]["licence_plate"] == pytest.approx(mean)
    assert result["pooled_recall_by_size"]["licence_plate"][">=32"] == 1.0
    # the margins and the windows that half-overlap a square obscure some road
    assert 0.0 < clean["over_blurring"] < 0.5
    assert result["mean_over_blurring"] == pytest.approx((small["over_blurring"] + jpeg["over_blurring"]) / 2)
    again = robustness(tmp_path / "again", privacy_weights, "--corruptions", "clean,downscale,jpeg")
    assert without_timing(again)["results"] == without_timing(payload)["results"]  # the corruptions are seeded


def without_timing(payload: dict) -> dict:
    for result in payload["results"]:
        for scored in result["corruptions"].values():
            scored.pop("seconds"), scored.pop("ms_per_image")
    return payload


def test_thresholds_and_a_candidate_side_by_side(tmp_path: Path, privacy_weights: Path) -> None:
    candidate = privacy_weights / "anonymize"
    payload = robustness(
        tmp_path, privacy_weights, "--corruptions", "clean", "--conf", "0.05,0.9", "--candidate", str(candidate)
    )
    assert [(r["variant"], r["conf"]) for r in payload["results"]] == [
        ("shipped", 0.05),
        ("shipped", 0.9),
        (str(candidate), 0.05),
        (str(candidate), 0.9),
    ]
    clean = [r["corruptions"]["clean"] for r in payload["results"]]
    assert [c["recall"]["licence_plate"] for c in clean] == [1.0] * 4
    # a higher threshold keeps fewer of the half-overlapping windows: fewer regions, less over-blurring
    assert clean[1]["regions"] < clean[0]["regions"] and clean[1]["over_blurring"] < clean[0]["over_blurring"]
    assert [c["regions"] for c in clean[2:]] == [c["regions"] for c in clean[:2]]  # the same model twice


def test_an_unknown_corruption_is_refused(tmp_path: Path, privacy_weights: Path) -> None:
    with pytest.raises(ValueError, match="unknown corruptions"):
        robustness(tmp_path, privacy_weights, "--corruptions", "fog")
