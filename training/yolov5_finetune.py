"""Fine-tuning the whole COCO YOLOv5n, head included, with the original (anchor-based) YOLOv5 trainer.

For a detector whose classes COCO already knows (lost_property: 10 of 12), the Ultralytics path
(`training.finetune`, anchor-free head) throws the COCO head away and relearns those classes from
a few hundred photos. Here the COCO checkpoint keeps its head: objectness and box rows are
copied as they are, each known class gets the row of its COCO class, and only unknown classes
start from YOLOv5's prior. The network is then fine-tuned end to end.

The `yolov5` package (7.0.14, its last release) predates NumPy 2 and PyTorch 2.6 and reaches
for the internet (hub lookups, fonts, pip); `_offline_yolov5` makes it run offline here.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

from training.datasets.taxonomy import normalise
from training.recipe import Recipe
from training.train_run import FinetuneResult, TrainJob, data_lineage, record_run
from training.yolov5_import import coco_checkpoint, legacy_yolov5_modules

OPT_KEYS = {"cache", "optimizer", "cos_lr", "label_smoothing", "multi_scale", "rect", "seed", "freeze"}


def _rows(anchor: int, per_anchor: int, first: int, count: int = 1) -> slice:
    start = anchor * per_anchor + first
    return slice(start, start + count)


def coco_head_init(names: list[str], out: Path, shared: Path | None = None) -> tuple[Path, list[str]]:
    """Write a YOLOv5n checkpoint for `names` holding every COCO tensor, and the COCO head rows of
    the classes COCO knows. Returns the checkpoint and those classes."""
    import torch

    source = coco_checkpoint(shared)
    legacy_yolov5_modules()
    from models.yolo import Model

    coco = torch.load(source, map_location="cpu", weights_only=False)["model"].float()
    coco_ids = {normalise(str(n)): i for i, n in _indexed(coco.names)}
    model = Model({**coco.yaml, "nc": len(names)}, ch=3, nc=len(names))
    own = model.state_dict()
    model.load_state_dict({k: v for k, v in coco.state_dict().items() if own[k].shape == v.shape}, strict=False)
    new_head, old_head = model.model[-1], coco.model[-1]
    per_new, per_old = 5 + len(names), 5 + len(coco_ids)
    known = [n for n in names if normalise(n) in coco_ids]
    with torch.no_grad():
        for new, old in zip(new_head.m, old_head.m, strict=True):
            for a in range(new_head.na):
                for param_new, param_old in ((new.weight, old.weight), (new.bias, old.bias)):
                    param_new[_rows(a, per_new, 0, 5)] = param_old[_rows(a, per_old, 0, 5)]  # xywh + objectness
                    for i, name in enumerate(names):
                        if name in known:
                            param_new[_rows(a, per_new, 5 + i)] = param_old[
                                _rows(a, per_old, 5 + coco_ids[normalise(name)])
                            ]
    model.names = dict(enumerate(names))
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model, "epoch": -1, "date": time.strftime("%Y-%m-%dT%H:%M:%S")}, out)
    print(f"COCO init: all {len(own)} tensors from {source.name}; head rows of {len(known)}/{len(names)} classes kept")
    return out, known


def _indexed(names) -> list[tuple[int, str]]:
    return sorted(names.items()) if isinstance(names, dict) else list(enumerate(names))


@contextlib.contextmanager
def _offline_yolov5() -> Iterator[object]:
    """The `yolov5.train` module, patched to run without internet on NumPy 2 / PyTorch 2.6+."""
    import numpy as np

    if not hasattr(np, "trapz"):  # removed in NumPy 2.4; its AP integration calls it
        np.trapz = np.trapezoid
    legacy_yolov5_modules()
    import yolov5.train as trainer
    import yolov5.utils.general as general

    trainer.attempt_download_from_hub = lambda *a, **k: None  # would query the Hugging Face hub
    trainer.check_requirements = lambda *a, **k: None  # would pip-install
    general.check_font = lambda *a, **k: None  # would download Arial.ttf (plots are off anyway)
    previous = os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"  # its checkpoints are pickles of its modules
    try:
        yield trainer
    finally:
        if previous is None:
            os.environ.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
        else:
            os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = previous


def _data_yaml(data: Path, out: Path) -> Path:
    """YOLOv5 resolves relative split paths against the working directory: pin them to the dataset."""
    spec = yaml.safe_load(data.read_text(encoding="utf-8"))
    root = (data.parent / spec.get("path", ".")).resolve()
    names = spec["names"]
    names = [n for _, n in _indexed(names)]
    out.write_text(yaml.safe_dump({**spec, "path": str(root), "names": names, "nc": len(names)}), encoding="utf-8")
    return out


def _hyp_and_opt(recipe: Recipe, extra: dict, hyp_out: Path) -> tuple[Path, dict]:
    """Recipe augmentations into YOLOv5's hyperparameter file; trainer options apart."""
    legacy_yolov5_modules()
    import yolov5

    hyp = yaml.safe_load((Path(yolov5.__file__).parent / "data" / "hyps" / "hyp.scratch-low.yaml").read_text())
    opt = {}
    for key, value in {**recipe.train_args, **extra}.items():
        if key in hyp:
            hyp[key] = value
        elif key in OPT_KEYS:
            opt[key] = value
        else:
            raise ValueError(f"{key!r} is neither a YOLOv5 hyperparameter nor a supported trainer option")
    hyp_out.write_text(yaml.safe_dump(hyp), encoding="utf-8")
    return hyp_out, opt


def finetune_yolov5(job: TrainJob) -> FinetuneResult:
    recipe, start, name = job.recipe, job.start, job.name
    project = job.project.resolve()
    project.mkdir(parents=True, exist_ok=True)
    known: list[str] = []
    if start == "coco":
        weights, known = coco_head_init(job.names, project / f"{name}-init.pt", job.shared)
    elif Path(start).suffix == ".pt" and Path(start).is_file():
        weights = Path(start)
    else:
        raise ValueError(f"--start must be 'coco' or an existing .pt file for a YOLOv5 recipe, not {start!r}")
    hyp, opt = _hyp_and_opt(recipe, job.extra, project / f"{name}-hyp.yaml")
    began = time.monotonic()
    with _offline_yolov5() as trainer:
        result = trainer.run(
            data=str(_data_yaml(job.data, project / f"{name}-data.yaml")),
            weights=str(weights),
            hyp=str(hyp),
            imgsz=recipe.imgsz,
            epochs=recipe.epochs,
            patience=recipe.patience,
            batch_size=recipe.batch,
            device="" if job.device is None else job.device,
            workers=job.workers,
            project=str(project),
            name=name,
            exist_ok=False,
            noplots=True,
            noautoanchor=True,  # the COCO anchors belong to the kept head rows
            **opt,
        )
    run_dir = Path(result.save_dir)
    lineage = data_lineage(job.data, start)
    return record_run(run_dir, start, began, recipe, _epochs_run(run_dir), lineage, coco_head_classes=known)


def _epochs_run(run_dir: Path) -> int:
    results = run_dir / "results.csv"
    return max(len(results.read_text().splitlines()) - 1, 0) if results.is_file() else 0
