"""The YOLOv5 path: the COCO head rows of known classes survive into the start checkpoint, and a
YOLOv5 run goes through the same export (parity, INT8, card) as an Ultralytics one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from helpers import need

from service.inference.card import read_card
from training.cli import main

SHARED = Path(os.environ.get("STADTBLICK_SHARED", "../shared"))
YOLOV5_PT = SHARED / "weights" / "yolov5n.pt"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.shared,
    pytest.mark.skipif(not YOLOV5_PT.is_file(), reason=f"{YOLOV5_PT} not present (set STADTBLICK_SHARED)"),
]

YOLOV5_RECIPE = """\
framework: yolov5
imgsz: 64
epochs: 2
patience: 10
batch: 8
train_args: {mosaic: 0.0, fliplr: 0.5, scale: 0.2}
"""


def test_coco_head_rows_of_known_classes_are_kept(tmp_path: Path) -> None:
    need("yolov5")
    import torch

    from training.yolov5_finetune import coco_head_init

    path, known = coco_head_init(["umbrella", "wallet", "cell_phone"], tmp_path / "init.pt", SHARED)
    assert known == ["umbrella", "cell_phone"]
    model = torch.load(path, map_location="cpu", weights_only=False)["model"]
    coco = torch.load(YOLOV5_PT, map_location="cpu", weights_only=False)["model"].float()
    umbrella, cell_phone = 25, 67  # COCO class ids
    for new, old in zip(model.model[-1].m, coco.model[-1].m, strict=True):
        w_new, w_old = new.weight.view(3, 8, -1), old.weight.view(3, 85, -1)
        assert torch.equal(w_new[:, :5], w_old[:, :5]), "box and objectness rows"
        assert torch.equal(w_new[:, 5], w_old[:, 5 + umbrella])
        assert torch.equal(w_new[:, 7], w_old[:, 5 + cell_phone])
        assert not any(torch.equal(w_new[0, 6], w_old[0, 5 + c]) for c in range(80)), "wallet is new"
    backbone = {k: v for k, v in coco.state_dict().items() if not k.startswith("model.24.m.")}
    own = model.state_dict()
    assert all(torch.equal(own[k].float(), v) for k, v in backbone.items())


def test_yolov5_run_exports_like_an_ultralytics_one(shapes_env, shapes_data: Path, tmp_path: Path) -> None:
    need("yolov5")
    taxonomy = tmp_path / "taxonomy"
    taxonomy.mkdir()
    shutil.copy(shapes_env["taxonomy"] / "shapes.yaml", taxonomy)
    (taxonomy / "shapes.train.yaml").write_text(YOLOV5_RECIPE)
    common = ["--detector", "shapes", "--taxonomy-dir", str(taxonomy)]
    argv = ["finetune", *common, "--data", str(shapes_data), "--start", "coco", "--shared", str(SHARED)]
    assert main([*argv, "--device", "cpu", "--workers", "0", "--project", str(tmp_path / "runs"), "--name", "v5"]) == 0
    best = tmp_path / "runs" / "v5" / "weights" / "best.pt"
    out = tmp_path / "release"
    argv = [
        "export",
        *common,
        "--weights",
        str(best),
        "--data",
        str(shapes_data),
        "--out",
        str(out),
        "--version",
        "0.1.0",
    ]
    assert main([*argv, "--calib-images", "8"]) == 0
    card = read_card(out)
    assert card.output_layout == "yolov5" and card.input_size == (64, 64)
    assert card.model_extra["training"]["recipe"]["framework"] == "yolov5"
    assert card.metrics["parity"]["fp32"]["max_box_deviation_px"] < 0.1
    assert set(card.files) == {"fp32", "int8"}
