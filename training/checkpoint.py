"""A trained checkpoint, whichever trainer wrote it: Ultralytics (anchor-free head, `yolov8`
output layout) or the original YOLOv5 (anchor-based head, `yolov5` layout).

Export, parity checks and cards only need four things from it: class names, training image
size, a PyTorch module that produces the same output tensor as the exported ONNX graph, and
the ONNX export itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Kind = Literal["ultralytics", "yolov5"]
LAYOUTS: dict[Kind, str] = {"ultralytics": "yolov8", "yolov5": "yolov5"}


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    kind: Kind
    names: list[str]
    imgsz: int

    @property
    def output_layout(self) -> str:
        return LAYOUTS[self.kind]

    def torch_model(self) -> Any:
        """Eval-mode float module whose forward returns what the exported graph returns."""
        if self.kind == "yolov5":
            from training.yolov5_import import load_checkpoint

            return load_checkpoint(self.path)
        from ultralytics import YOLO

        return YOLO(str(self.path)).model.float().eval()

    def export_onnx(self, out: Path, imgsz: int, opset: int) -> Path:
        """Static 1x3xHxW graph at `out` (no NMS inside)."""
        import shutil

        out.parent.mkdir(parents=True, exist_ok=True)
        if self.kind == "yolov5":
            from training.yolov5_import import export_onnx

            return export_onnx(self.torch_model(), out, imgsz, opset)
        from ultralytics import YOLO

        exported = YOLO(str(self.path)).export(
            format="onnx", imgsz=imgsz, opset=opset, simplify=True, dynamic=False, half=False, device="cpu"
        )
        return Path(shutil.move(exported, out))


def open_checkpoint(path: Path) -> Checkpoint:
    """Inspect a `.pt` file written by our own training runs (it is unpickled: trusted files only)."""
    import torch

    from training.yolov5_import import legacy_yolov5_modules

    legacy_yolov5_modules()  # so YOLOv5's pickled `models.yolo` classes resolve
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model = ckpt.get("ema") or ckpt["model"]
    names = model.names
    names = [str(names[i]) for i in sorted(names)] if isinstance(names, dict) else [str(n) for n in names]
    if "train_args" in ckpt:
        imgsz = ckpt["train_args"].get("imgsz", 640)
        return Checkpoint(path, "ultralytics", names, int(imgsz[0] if isinstance(imgsz, list) else imgsz))
    imgsz = (ckpt.get("opt") or {}).get("imgsz", 640)
    return Checkpoint(path, "yolov5", names, int(imgsz[0] if isinstance(imgsz, list) else imgsz))
