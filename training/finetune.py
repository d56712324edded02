"""Fine-tuning with Ultralytics, offline, from COCO weights or from a previous detector version.

Starting points:

* ``coco``    -- `yolov5n_coco.safetensors` backbone+neck (342 tensors) loaded into `yolov5nu.yaml`;
                 the anchor-free head starts untrained.
* a ``.pt``   -- an earlier run's `best.pt` of the same detector (continue improving it).
* ``scratch`` -- random initialisation of the recipe's architecture (tests, experiments).

Recipes with ``framework: yolov5`` train the original anchor-based YOLOv5n instead, keeping
its COCO head (`training.yolov5_finetune`).

Injected weights are written into an ordinary Ultralytics checkpoint the trainer starts from,
and a callback checks at train start that the trainer's model really holds them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from training.paths import offline, shared_dir
from training.recipe import Recipe
from training.train_run import RUN_INFO, UNKNOWN_START, FinetuneResult, TrainJob, data_lineage, record_run

COCO_WEIGHTS = Path("weights/yolov5n_coco.safetensors")  # relative to the shared folder
COCO_TRANSFER_EXPECTED = 342


class TransferError(RuntimeError):
    """The COCO initialisation did not transfer as documented (wrong file or architecture)."""


def coco_state_dict(shared: Path | None = None) -> dict:
    """The YOLOv5n COCO tensors as float32 (stored fp16), ready for `load_state_dict`."""
    from safetensors.torch import load_file

    path = shared_dir(shared) / COCO_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; pass --shared or set $STADTBLICK_SHARED")
    return {k: v.float() for k, v in load_file(path).items()}


def build_coco_init(arch: str, names: list[str], out: Path, shared: Path | None = None) -> tuple[Path, dict]:
    """Build `arch` for `names`, load the matching COCO tensors and save a trainer-ready checkpoint.

    Returns the checkpoint path and the transferred tensors (for the in-trainer check).
    """
    import torch
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel(arch, nc=len(names), verbose=False)
    own = model.state_dict()
    sd = {k: v for k, v in coco_state_dict(shared).items() if k in own and own[k].shape == v.shape}
    if len(sd) != COCO_TRANSFER_EXPECTED:
        raise TransferError(f"{len(sd)} COCO tensors fit {arch}, expected {COCO_TRANSFER_EXPECTED}")
    missing = model.load_state_dict(sd, strict=False).missing_keys
    model.names = dict(enumerate(names))
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model, "train_args": {}, "date": time.strftime("%Y-%m-%dT%H:%M:%S")}, out)
    print(f"COCO init: {len(sd)} tensors transferred, {len(missing)} left to train (head)")
    return out, sd


def count_equal(model, expected: dict) -> int:
    """How many of `expected`'s tensors the model holds unchanged."""
    import torch

    own = model.state_dict()
    return sum(1 for k, v in expected.items() if k in own and torch.equal(own[k].float().cpu(), v.cpu()))


def finetune(job: TrainJob) -> FinetuneResult:
    """Train until `recipe.epochs` or early stopping; returns where best/last weights are."""
    offline()
    if job.recipe.framework == "yolov5":
        from training.yolov5_finetune import finetune_yolov5

        return finetune_yolov5(job)
    from ultralytics import YOLO

    data, names, recipe, start, name, shared = job.data, job.names, job.recipe, job.start, job.name, job.shared
    project = job.project.resolve()
    expected: dict = {}
    if start == "coco":
        init, expected = build_coco_init(recipe.arch, names, project / f"{name}-init.pt", shared)
        model = YOLO(str(init))
    elif start == "scratch":
        model = YOLO(recipe.arch)
    elif Path(start).suffix == ".pt" and Path(start).is_file():
        model = YOLO(start)
    else:
        raise ValueError(f"--start must be 'coco', 'scratch' or an existing .pt file, not {start!r}")
    verified: list[int] = []
    if expected:
        model.add_callback("on_train_start", lambda t: verified.append(count_equal(t.model, expected)))
    args = {
        "data": str(data),
        "imgsz": recipe.imgsz,
        "epochs": recipe.epochs,
        "patience": recipe.patience,
        "batch": recipe.batch,
        "project": str(project),
        "name": name,
        "workers": job.workers,
        "plots": False,
        "exist_ok": False,
        "verbose": False,
        **recipe.train_args,
        **job.extra,
    }
    if job.device is not None:
        args["device"] = job.device
    began = time.monotonic()
    lineage = data_lineage(data, start)
    transferred = len(expected) or None
    _keep_record(model, start, lineage, transferred, verified, began, recipe)
    model.train(**args)
    if expected and verified and verified[0] != len(expected):
        raise TransferError(f"trainer holds only {verified[0]} of {len(expected)} injected COCO tensors")
    save_dir = Path(model.trainer.save_dir)
    return _result(save_dir, start, lineage, transferred, verified, began, recipe, model.trainer.epoch)


def resume(run_dir: Path, device: str | None = None) -> FinetuneResult:
    """Continue an interrupted run from its `weights/last.pt` (optimizer, epoch and EMA included)."""
    offline()
    from ultralytics import YOLO

    last = run_dir / "weights" / "last.pt"
    if not last.is_file():
        raise FileNotFoundError(f"{last} not found: nothing to resume")
    previous = json.loads((run_dir / RUN_INFO).read_text()) if (run_dir / RUN_INFO).is_file() else {}
    if (run_dir / "opt.yaml").is_file():  # written by the YOLOv5 trainer, which resumes itself
        raise ValueError(f"{run_dir} is a YOLOv5 run: start it again (its runs are short) instead of resuming")
    model = YOLO(str(last))
    began = time.monotonic() - previous.get("duration_s", 0.0)  # the record counts the whole run
    recipe = Recipe.model_validate(previous.get("recipe", {}))
    start = previous.get("start", "resume")
    lineage = previous.get("data_lineage") or [str(model.ckpt["train_args"]["data"]), UNKNOWN_START + "resumed"]
    transferred = previous.get("transferred")
    verified = [] if previous.get("verified_in_trainer") is None else [previous["verified_in_trainer"]]
    _keep_record(model, start, lineage, transferred, verified, began, recipe)
    model.train(resume=True, **({"device": device} if device is not None else {}))
    return _result(run_dir, start, lineage, transferred, verified, began, recipe, model.trainer.epoch)


def _keep_record(
    model, start: str, lineage: list[str], transferred: int | None, verified: list[int], began: float, recipe: Recipe
) -> None:
    """Rewrite the run record at every checkpoint, so a run cut off before its end still says what
    it started from and which data it saw when `resume` continues it."""
    model.add_callback(
        "on_model_save",
        lambda t: _result(Path(t.save_dir), start, lineage, transferred, verified, began, recipe, t.epoch),
    )


def _result(
    run_dir: Path,
    start: str,
    lineage: list[str],
    transferred: int | None,
    verified: list[int],
    began: float,
    recipe: Recipe,
    epoch: int,
) -> FinetuneResult:
    """`verified` is filled by the trainer's start callback, so it is read only when the record is written."""
    return record_run(run_dir, start, began, recipe, epoch + 1, lineage, transferred, verified[0] if verified else None)
