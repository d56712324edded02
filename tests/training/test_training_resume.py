"""An interrupted run continues from its last.pt with `finetune --resume`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.cli import main

pytestmark = pytest.mark.slow


class Interrupted(Exception):
    pass


def test_resume_continues_an_interrupted_run(shapes_data: Path, tmp_path: Path) -> None:
    from ultralytics import YOLO

    def stop_after_first_epoch(trainer) -> None:
        raise Interrupted

    model = YOLO("yolov8n.yaml")
    model.add_callback("on_model_save", stop_after_first_epoch)
    with pytest.raises(Interrupted):
        model.train(
            data=str(shapes_data),
            imgsz=64,
            epochs=2,
            batch=16,
            device="cpu",
            workers=0,
            plots=False,
            project=str(tmp_path),
            name="cut",
            mosaic=0.0,
        )
    run = tmp_path / "cut"
    assert (run / "weights" / "last.pt").is_file()
    assert main(["finetune", "--resume", str(run), "--device", "cpu"]) == 0
    assert (run / "weights" / "best.pt").is_file()
    assert json.loads((run / "stadtblick_train.json").read_text())["epochs_run"] == 2
