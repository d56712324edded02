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
    record = json.loads((run / "stadtblick_train.json").read_text())
    assert record["epochs_run"] == 2
    assert record["data_lineage"] == [str(shapes_data), "unknown: resumed"], "started outside stadtblick"


def test_a_run_cut_off_keeps_its_record_and_resume_continues_it(
    shapes_env, shapes_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record is rewritten at every checkpoint: cut off after its first, the run still says
    where it started and what it saw, and the resumed run keeps that lineage and adds its time."""
    from ultralytics.utils.callbacks import base

    def cut(trainer) -> None:
        raise Interrupted

    monkeypatch.setitem(base.default_callbacks, "on_fit_epoch_end", [cut])  # runs after the checkpoint
    argv = ["finetune", "--detector", "shapes", "--data", str(shapes_data), "--start", "scratch", "--epochs", "2"]
    argv += ["--device", "cpu", "--workers", "0", "--project", str(tmp_path), "--name", "cut"]
    with pytest.raises(Interrupted):
        main([*argv, "--taxonomy-dir", str(shapes_env["taxonomy"])])
    run = tmp_path / "cut"
    cut_off = json.loads((run / "stadtblick_train.json").read_text())
    assert cut_off["epochs_run"] == 1 and cut_off["start"] == "scratch"
    assert cut_off["data_lineage"] == [str(shapes_data), "scratch"]
    monkeypatch.undo()
    assert main(["finetune", "--resume", str(run), "--device", "cpu"]) == 0
    resumed = json.loads((run / "stadtblick_train.json").read_text())
    assert resumed["epochs_run"] == 2 and resumed["data_lineage"] == cut_off["data_lineage"]
    assert resumed["duration_s"] > cut_off["duration_s"] and resumed["recipe"] == cut_off["recipe"]
