"""End to end: import (COCO + VOC + YOLO, merged) -> validate -> finetune -> export (fp32 + INT8)
-> evaluate -> publish -> served by the inference core (and the API when it exists)."""

from __future__ import annotations

import importlib
import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from training_cli import export

from service.inference import OnnxDetector
from service.inference.card import read_card
from training.cli import main
from training.datasets.layout import load_yolo_dataset
from training.evaluate import open_detector

pytestmark = pytest.mark.slow


def test_import_validates_clean(shapes_data: Path) -> None:
    ds = load_yolo_dataset(shapes_data)
    assert ds.names == ["square", "circle"]
    assert len(ds.splits["train"]) + len(ds.splits["val"]) == 90
    assert main(["validate", str(shapes_data)]) == 0


def test_release_folder_has_card_variants_and_reports(release: Path) -> None:
    card = read_card(release)
    assert card.name == "shapes" and card.version == "1.0.0" and card.output_layout == "yolov8"
    assert set(card.files) == {"fp32", "int8"}
    int8_within_budget = card.metrics["int8"]["map50"] >= card.metrics["fp32"]["map50"] - 0.01
    assert card.serve_variant == ("int8" if int8_within_budget else "fp32")
    assert [c.label_de for c in card.classes] == ["Quadrat", "Kreis"]
    assert card.metrics["fp32"]["map50"] > 0.2, "20 epochs on shapes learn something"
    assert card.thresholds.conf == pytest.approx(card.metrics["fp32"]["best_f1_threshold"], abs=1e-3)
    parity = card.metrics["parity"]
    assert parity["fp32"]["max_box_deviation_px"] < 0.1 and parity["fp32"]["match_rate"] == 1.0
    assert parity["int8"]["match_rate"] >= 0.5 and parity["int8"]["mean_iou"] > 0.8
    assert card.training_data["licence"] == "generated test data, CC0"
    extra = card.model_extra
    assert extra["not_intended_use"] and extra["training"]["command"] and extra["training"]["hardware"]
    md = (release / "MODEL_CARD.md").read_text()
    for heading in (
        "## Intended use",
        "## Not intended for",
        "## Transparency notice",
        "## Limitations",
        "## How it was made",
        "## Training data and licences",
    ):
        assert heading in md
    assert "## Notes\n\nCircles drawn **thinner** than 2 px are out of scope." in md  # from the taxonomy
    boxes = card.training_data["boxes"]
    assert sum(boxes["train"].values()) + sum(boxes["val"].values()) > 90, "every image holds a shape or more"
    val = boxes["val"]
    n_val = card.training_data["images"]["val"]
    assert f"val {n_val} images (square {val['square']}, circle {val['circle']} boxes)" in md
    for variant in ("fp32", "int8"):  # per-class rows for every exported variant, 3 decimals
        ap = card.metrics[variant]["classes"][0]["ap50"]
        assert f"| {variant} | square | {val['square']} | {ap:.3f} |" in md
    for f in ("metrics.json", "metrics.md", "pr_curve.png", "f1_curve.png", "confusion_matrix.png"):
        assert (release / "eval" / f).stat().st_size > 0


def test_card_rewrites_text_but_keeps_files_and_metrics(
    release: Path, shapes_env: dict[str, Path], shapes_data: Path, tmp_path: Path
) -> None:
    folder, tax = tmp_path / "shapes", tmp_path / "taxonomy"
    shutil.copytree(release, folder)
    shutil.copytree(shapes_env["taxonomy"], tax)
    taxonomy = tax / "shapes.yaml"
    taxonomy.write_text(taxonomy.read_text().replace("out of scope", "ignored on purpose"))
    before = read_card(folder)
    assert main(["card", str(folder), "--data", str(shapes_data), "--taxonomy-dir", str(tax)]) == 0
    after = read_card(folder)
    assert "thinner** than 2 px are ignored on purpose" in (folder / "MODEL_CARD.md").read_text()
    assert after.files == before.files and after.metrics == before.metrics and after.created == before.created
    assert after.model_extra["training"] == before.model_extra["training"]
    (tax / "shapes.yaml").write_text(taxonomy.read_text().replace("circle", "triangle"))
    assert main(["card", str(folder), "--data", str(shapes_data), "--taxonomy-dir", str(tax)]) == 2
    assert read_card(folder) == after, "a refused refresh leaves the card alone"


def test_evaluate_cli_on_int8(release: Path, shapes_data: Path, tmp_path: Path) -> None:
    assert (
        main(["evaluate", str(release), "--data", str(shapes_data), "--variant", "int8", "--out", str(tmp_path)]) == 0
    )
    body = json.loads((tmp_path / "metrics.json").read_text())
    assert body["map50"] > 0.1 and len(body["confusion"]) == 3


def test_publish_serves_and_guards(
    shapes_env, shapes_data: Path, release: Path, undertrained: Path, tmp_path: Path
) -> None:
    weights = tmp_path / "weights"
    assert main(["publish", str(release), "--data", str(shapes_data), "--weights-dir", str(weights)]) == 0
    served = weights / "shapes"
    detector = open_detector(served)
    image = cv2.cvtColor(cv2.imread(str(load_yolo_dataset(shapes_data).splits["val"][0])), cv2.COLOR_BGR2RGB)
    assert isinstance(detector, OnnxDetector) and len(detector.detect(image)) >= 0

    worse = export(shapes_env, undertrained, shapes_data, "0.9.0", "--no-int8")
    assert read_card(worse).metrics["fp32"]["map50"] < read_card(release).metrics["fp32"]["map50"]
    assert main(["publish", str(worse), "--data", str(shapes_data), "--weights-dir", str(weights)]) == 3
    assert read_card(served).version == "1.0.0", "refused: production unchanged"
    assert main(["publish", str(worse), "--data", str(shapes_data), "--weights-dir", str(weights), "--force"]) == 0
    assert read_card(served).version == "0.9.0"
    assert read_card(weights / ".archive" / "shapes" / "1.0.0").version == "1.0.0"
    assert sorted(p.name for p in weights.iterdir() if (p / "model.json").is_file()) == ["shapes"]


def test_api_serves_published_model(release: Path, shapes_data: Path, tmp_path: Path) -> None:
    app_module = importlib.import_module("service.api.app")
    config = importlib.import_module("service.config")
    from fastapi.testclient import TestClient

    weights = tmp_path / "weights"
    assert main(["publish", str(release), "--data", str(shapes_data), "--weights-dir", str(weights)]) == 0
    app = app_module.create_app(config.Settings(weights_dir=str(weights)), load_in_background=False)
    image = cv2.imread(str(load_yolo_dataset(shapes_data).splits["val"][0]))
    ok, jpeg = cv2.imencode(".jpg", image)
    assert ok
    with TestClient(app) as client:
        r = client.post(
            "/v1/detect", files={"file": ("val.jpg", np.asarray(jpeg).tobytes(), "image/jpeg")}, params={"conf": 0.05}
        )
    assert r.status_code == 200, r.text
    assert r.json()["models"] == [{"name": "shapes", "version": "1.0.0"}]


def test_hardware_names_the_runs_threads() -> None:
    """Two CPU runs side by side get one thread each; the card must not claim the whole machine."""
    torch = pytest.importorskip("torch")
    from training.train_run import hardware

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert hardware().split(", ")[0].endswith(f" 1 of {os.cpu_count()} CPU threads")
    finally:
        torch.set_num_threads(before)
