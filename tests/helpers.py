"""Test helpers: tiny real ONNX detectors built by Ultralytics, weights folders, synthetic photos."""

from __future__ import annotations

import importlib
import io
import os
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("YOLO_OFFLINE", "1")

from service.registry.card import ClassLabel, ModelCard, ModelFile, sha256_file, write_card

SHARED = Path(os.environ.get("STADTBLICK_SHARED_DIR", Path(__file__).resolve().parents[1].parent / "shared"))
TINY_INPUT = (128, 160)  # height, width: deliberately not square


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present (the ../shared data folder is needed for this test)")
    return path


def need(module: str) -> ModuleType:
    """Import an optional dependency; skip locally without it, but fail in CI (a missing install step)."""
    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"{module} comes with the [train] extra")


def export_tiny(arch: str, out: Path, **export_args: object) -> Path:
    """Export an untrained Ultralytics model; class biases zeroed so it emits many boxes."""
    torch = need("torch")
    ultralytics = need("ultralytics")
    cwd = Path.cwd()
    os.chdir(out)  # Ultralytics writes next to the model name
    try:
        torch.manual_seed(0)
        model = ultralytics.YOLO(arch)
        head = model.model.model[-1]
        with torch.no_grad():
            for branch in ("cv3", "one2one_cv3"):
                for seq in getattr(head, branch, None) or []:
                    seq[-1].bias.zero_()
        exported = model.export(format="onnx", imgsz=TINY_INPUT, simplify=False, opset=17, verbose=False, **export_args)
    finally:
        os.chdir(cwd)
    return out / Path(exported).name


def write_detector(
    folder: Path, onnx_path: Path, name: str, class_names: list[str], input_size: tuple[int, int], **card: object
) -> Path:
    """Make `folder/<name>/` a detector: the ONNX file plus a model card that describes it."""
    target = folder / name
    target.mkdir(parents=True, exist_ok=True)
    model = target / "model.onnx"
    model.write_bytes(onnx_path.read_bytes())
    write_card(
        target,
        ModelCard(
            name=name,
            version=str(card.pop("version", "0.0.1-test")),
            classes=[ClassLabel(id=i, name=n, label_de=f"{n} (de)", label_en=n) for i, n in enumerate(class_names)],
            input_size=input_size,
            files={"fp32": ModelFile(path="model.onnx", sha256=sha256_file(model))},
            **card,
        ),
    )
    return target


def synthetic_photo(height: int = 240, width: int = 320, seed: int = 0) -> np.ndarray:
    """An RGB uint8 image with shapes and noise: enough structure for a random net to react."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 60, (height, width, 3), dtype=np.uint8)
    for _ in range(6):
        x, y = rng.integers(0, width - 40), rng.integers(0, height - 40)
        w, h = rng.integers(20, 80), rng.integers(20, 80)
        img[y : y + h, x : x + w] = rng.integers(80, 255, 3, dtype=np.uint8)
    return img


def jpeg_bytes(rgb: np.ndarray, exif: Image.Exif | None = None, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality, exif=exif or Image.Exif())
    return buf.getvalue()
