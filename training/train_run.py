"""One fine-tuning run, whichever trainer runs it: what it is given (`TrainJob`) and what it
records for the model card (`stadtblick_train.json`). Both trainers (`training.finetune` for
Ultralytics, `training.yolov5_finetune`) build on this; neither imports the other's inside."""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from training.recipe import Recipe

RUN_INFO = "stadtblick_train.json"
# How a data lineage ends: weights that saw no photo of ours yet, or a start with no run record.
FRESH_STARTS = ("coco", "scratch")
UNKNOWN_START = "unknown: "


@dataclass(frozen=True)
class TrainJob:
    """One fine-tuning run, whichever trainer the recipe's `framework` picks."""

    data: Path
    names: list[str]
    recipe: Recipe
    start: str = "coco"
    project: Path = Path("runs/train")
    name: str = "run"
    device: str | None = None
    workers: int = 2
    shared: Path | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class FinetuneResult:
    run_dir: Path
    best: Path
    last: Path
    start: str
    transferred: int | None
    verified_in_trainer: int | None
    duration_s: float
    epochs_run: int
    command: str
    hardware: str
    recipe: dict = field(default_factory=dict)
    coco_head_classes: list[str] = field(default_factory=list)
    # The data.yaml of this run, then of the run its start came from, and so on, ending in "coco",
    # "scratch" or "unknown: <start>": which photos the weights have seen (`training.loso`).
    data_lineage: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


def hardware() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    # The run's torch threads, not just the machine's: runs side by side (OMP_NUM_THREADS=1) are slower.
    threads = f"{torch.get_num_threads()} of {os.cpu_count()} CPU threads"
    return f"{platform.machine()} {threads}, {gpu}, torch {torch.__version__}"


def data_lineage(data: Path, start: str) -> list[str]:
    """`data`, then the lineage its start checkpoint's run recorded: a fine-tune from weights that
    saw a source has seen it too, whatever its own data holds out."""
    if start in FRESH_STARTS:
        return [str(data), start]
    record = Path(start).parent.parent / RUN_INFO
    earlier = json.loads(record.read_text(encoding="utf-8")).get("data_lineage") if record.is_file() else None
    return [str(data), *(earlier or [UNKNOWN_START + start])]


def record_run(
    run_dir: Path,
    start: str,
    began: float,
    recipe: Recipe,
    epochs_run: int,
    lineage: list[str],
    transferred: int | None = None,
    verified: int | None = None,
    coco_head_classes: list[str] | None = None,
) -> FinetuneResult:
    """Write `stadtblick_train.json` (command, hardware, duration, start, recipe) for the model card."""
    result = FinetuneResult(
        run_dir=run_dir,
        best=run_dir / "weights" / "best.pt",
        last=run_dir / "weights" / "last.pt",
        start=start,
        transferred=transferred,
        verified_in_trainer=verified,
        duration_s=round(time.monotonic() - began, 1),
        epochs_run=epochs_run,
        command=shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        hardware=hardware(),
        recipe=recipe.model_dump(),
        coco_head_classes=coco_head_classes or [],
        data_lineage=lineage,
    )
    (run_dir / RUN_INFO).write_text(result.to_json(), encoding="utf-8")
    return result
