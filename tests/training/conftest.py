"""Session fixtures: one generated dataset, one tiny training run and one exported version,
shared by the slow tests so the whole suite trains only twice."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import training_synth as synth
from training_cli import export

from training.cli import main

os.environ["YOLO_OFFLINE"] = "1"


@pytest.fixture(scope="session")
def shapes_env(tmp_path_factory) -> dict[str, Path]:
    """Taxonomy + recipe for the test detector `shapes`, and one source per annotation format."""
    root = tmp_path_factory.mktemp("shapes")
    tax = root / "taxonomy"
    tax.mkdir()
    (tax / "shapes.yaml").write_text(synth.SHAPES_TAXONOMY)
    (tax / "shapes.train.yaml").write_text(synth.SHAPES_RECIPE)
    return {
        "root": root,
        "taxonomy": tax,
        "coco": synth.write_coco(root / "coco", 30, seed=1),
        "voc": synth.write_voc(root / "voc", 30, seed=2, label_map={"circle": "Kreis", "square": "box"}),
        "yolo": synth.write_yolo(root / "yolo", 30, seed=3),
    }


@pytest.fixture(scope="session")
def shapes_data(shapes_env) -> Path:
    """COCO + VOC + YOLO sources imported, remapped and merged through the CLI."""
    out = shapes_env["root"] / "dataset"
    argv = [
        "import",
        "--detector",
        "shapes",
        "--out",
        str(out),
        "--taxonomy-dir",
        str(shapes_env["taxonomy"]),
        "--licence",
        "generated test data, CC0",
        "--strict",
        "--val-fraction",
        "0.25",
    ]
    for fmt in ("coco", "voc", "yolo"):
        argv += ["--source", f"{fmt}:{shapes_env[fmt]}"]
    assert main(argv) == 0
    return out / "data.yaml"


def _train(env: dict[str, Path], data: Path, name: str, *extra: str) -> Path:
    argv = [
        "finetune",
        "--detector",
        "shapes",
        "--data",
        str(data),
        "--start",
        "scratch",
        "--device",
        "cpu",
        "--workers",
        "0",
        "--project",
        str(env["root"] / "runs"),
        "--name",
        name,
        "--taxonomy-dir",
        str(env["taxonomy"]),
        *extra,
    ]
    assert main(argv) == 0
    return env["root"] / "runs" / name / "weights" / "best.pt"


@pytest.fixture(scope="session")
def trained(shapes_env, shapes_data) -> Path:
    return _train(shapes_env, shapes_data, "good")


@pytest.fixture(scope="session")
def undertrained(shapes_env, shapes_data) -> Path:
    return _train(shapes_env, shapes_data, "bad", "--epochs", "1")


@pytest.fixture(scope="session")
def release(shapes_env, shapes_data, trained) -> Path:
    return export(shapes_env, trained, shapes_data, "1.0.0")
