"""Import of an original YOLOv5 (v6/v7) `.pt` checkpoint as a served ONNX detector folder.

The checkpoint is a pickle of the legacy YOLOv5 module tree (`models.yolo.Model`); the PyPI
package `yolov5` provides that tree. The export keeps YOLOv5's own output layout
`(1, N, 5 + nc)` (xywh, objectness, class scores), which the inference core decodes.
Unpickling runs code from the file, so only checkpoints with a known SHA-256 are loaded
unless the caller explicitly trusts the file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from service.registry.card import ModelCard, Thresholds, sha256_file, write_card
from training.datasets.taxonomy import load_taxonomy, normalise
from training.modelcard import model_files
from training.paths import shared_dir

KNOWN_CHECKPOINTS = {
    # ../shared/weights/yolov5n.pt, official ultralytics/yolov5 v6.1-v7.0 release asset (PROVENANCE.md)
    "4f180cf23ba0717ada0badd6c685026d73d48f184d00fc159c2641284b2ac0a3": "yolov5n-v7.0",
}
COCO_CHECKPOINT = Path("weights/yolov5n.pt")  # relative to the shared folder
IMGSZ = 640
OPSET = 17
ONNX_FILE = "model.onnx"


class UntrustedCheckpoint(RuntimeError):
    """The .pt file is not a known release checkpoint; unpickling it could run arbitrary code."""


def coco_checkpoint(shared: Path | None = None) -> Path:
    """The shared folder's COCO YOLOv5n, after checking it is the known release file (it is a pickle)."""
    source = shared_dir(shared) / COCO_CHECKPOINT
    if sha256_file(source) not in KNOWN_CHECKPOINTS:
        raise UntrustedCheckpoint(f"{source} is not the known YOLOv5n COCO release checkpoint")
    return source


def legacy_yolov5_modules() -> None:
    """Make `models.yolo` (the pickled module path) importable via the `yolov5` package.

    (`yolov5` imports `pkg_resources`: the `[train]` extra pins setuptools < 81, which still has it.)
    """
    import yolov5.models.yolo  # noqa: F401  (adds the package root to sys.path for `models.*`)


def load_checkpoint(pt_path: Path):
    """The fused FP32 YOLOv5 model with its Detect layer in export mode (one concatenated output)."""
    import torch

    legacy_yolov5_modules()
    ckpt = torch.load(pt_path, map_location="cpu", weights_only=False)
    model = (ckpt.get("ema") or ckpt["model"]).float().fuse().eval()
    for m in model.modules():
        if type(m).__name__ == "Detect":
            m.inplace, m.export, m.dynamic = True, True, False
        elif isinstance(m, torch.nn.Upsample):
            m.recompute_scale_factor = None
    return model


def export_onnx(model, out: Path, imgsz: int = IMGSZ, opset: int = OPSET) -> Path:
    import torch

    dummy = torch.zeros(1, 3, imgsz, imgsz)
    model(dummy)  # builds the anchor grids once, as YOLOv5's own export does
    torch.onnx.export(
        model,
        dummy,
        str(out),
        opset_version=opset,
        dynamo=False,
        do_constant_folding=True,
        input_names=["images"],
        output_names=["output0"],
    )
    return out


def import_yolov5(pt_path: Path, name: str, out_dir: Path, trust: bool = False) -> Path:
    """Convert a YOLOv5 checkpoint into the detector folder `out_dir/<name>/` and return that folder.

    `out_dir` is a weights folder the service scans (e.g. `weights`); the new folder holds
    model.onnx and model.json.

    Class labels come from `datasets/<name>.yaml` when it exists (German and English),
    else from the checkpoint's own names.
    """
    digest = sha256_file(pt_path)
    if digest not in KNOWN_CHECKPOINTS and not trust:
        raise UntrustedCheckpoint(
            f"{pt_path} (sha256 {digest[:12]}…) is not a known release checkpoint; "
            "pass trust=True / --trust only for files you verified yourself"
        )
    model = load_checkpoint(pt_path)
    names = [str(model.names[i]) for i in sorted(model.names)] if isinstance(model.names, dict) else list(model.names)
    folder = out_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    export_onnx(model, folder / ONNX_FILE)
    try:
        taxonomy = load_taxonomy(name)
    except FileNotFoundError:
        taxonomy = None
    if taxonomy is not None and [normalise(n) for n in names] != taxonomy.names:
        raise ValueError(f"checkpoint classes do not match datasets/{name}.yaml")
    from service.registry.card import ClassLabel

    classes = (
        taxonomy.class_labels()
        if taxonomy
        else [ClassLabel(id=i, name=normalise(n), label_de=n, label_en=n) for i, n in enumerate(names)]
    )
    card = ModelCard(
        name=name,
        version=KNOWN_CHECKPOINTS.get(digest, f"yolov5-{digest[:8]}"),
        description=taxonomy.description if taxonomy else f"YOLOv5 checkpoint {pt_path.name}",
        classes=classes,
        input_size=(IMGSZ, IMGSZ),
        output_layout="yolov5",
        thresholds=Thresholds(conf=0.25, iou=0.45, max_det=300),
        enabled_by_default=True,
        files=model_files(folder, {"fp32": ONNX_FILE}),
        training_data={
            "source": "COCO 2017 train (upstream Ultralytics YOLOv5 release)",
            "checkpoint": pt_path.name,
            "checkpoint_sha256": digest,
        },
        metrics={"coco_val_map50_95_upstream": 0.280} if digest in KNOWN_CHECKPOINTS else {},
        intended_use=taxonomy.intended_use if taxonomy else "",
        limitations=taxonomy.limitations if taxonomy else "",
        license="AGPL-3.0 (Ultralytics YOLOv5)",
        not_intended_use=taxonomy.not_intended_use if taxonomy else "",
    )
    write_card(folder, card)
    return folder


def add_import_yolov5_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `import-yolov5` on a CLI's subparsers (the service CLI calls this)."""
    p = subparsers.add_parser("import-yolov5", help="convert a YOLOv5 .pt checkpoint into an ONNX detector folder")
    p.add_argument(
        "pt",
        type=Path,
        nargs="?",
        help="checkpoint (default: $STADTBLICK_SHARED/weights/yolov5n.pt, i.e. ../shared/weights/yolov5n.pt)",
    )
    p.add_argument("--name", default="coco", help="detector name; labels from datasets/<name>.yaml if present")
    p.add_argument("--out", type=Path, required=True, help="weights folder to create <name>/ in, e.g. weights")
    p.add_argument("--shared", type=Path, help="shared data folder (default $STADTBLICK_SHARED or ../shared)")
    p.add_argument("--trust", action="store_true", help="load a checkpoint whose hash is not known (runs pickle)")
    p.set_defaults(func=run_import_yolov5)
    return p


def run_import_yolov5(args: argparse.Namespace) -> int:
    pt = args.pt or shared_dir(args.shared) / "weights" / "yolov5n.pt"
    if not pt.is_file():
        print(f"error: {pt} not found", file=sys.stderr)
        return 2
    try:
        out = import_yolov5(pt, args.name, args.out, trust=args.trust)
    except UntrustedCheckpoint as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"imported {pt} -> {out} ({sha256_file(out / ONNX_FILE)[:12]}…)")
    return 0
