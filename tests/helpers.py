"""Test helpers: tiny real ONNX detectors (built by Ultralytics, or exact ones that find coloured
squares), weights folders, synthetic photos."""

from __future__ import annotations

import importlib
import io
import os
import struct
import zlib
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

os.environ.setdefault("YOLO_OFFLINE", "1")

from service.inference.card import ClassLabel, ModelCard, ModelFile, sha256_file, write_card

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
    return pytest.importorskip(module, reason=f"{module} is installed by the [train,dev] extras (scripts/test.sh)")


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


def dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    """Degrees as EXIF GPS degrees, minutes, seconds."""
    deg = int(value)
    minutes = int((value - deg) * 60)
    seconds = round(((value - deg) * 60 - minutes) * 60 * 10000)
    return IFDRational(deg), IFDRational(minutes), IFDRational(seconds, 10000)


def jpeg_bytes(rgb: np.ndarray, exif: Image.Exif | None = None, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality, exif=exif or Image.Exif())
    return buf.getvalue()


WINDOW, STRIDE = 32, 4  # of the square detector, in model input pixels (64 and 8 in a 320x240 frame)
MIX = {
    "pothole": (1.0, -1.0, 0.0),  # red
    "crack": (-1.0, 1.0, 0.0),  # green
    "face": (-1.0, 0.0, 1.0),  # blue
    "licence_plate": (1.0, 1.0, -1.0),  # yellow
    "backpack": (1.0, -1.0, 0.0),  # red
    "umbrella": (-1.0, -1.0, -1.0),  # black: scores 1 - (r + g + b), see BIAS
}
BIAS = {"umbrella": 1.0}  # added to a class's mix; 0 for the others


def square_detector_onnx(path: Path, classes: list[str]) -> Path:
    """An exact detector of coloured squares, in the YOLOv8 layout (1, 4 + nc, N).

    A WINDOW x WINDOW box slides with STRIDE over the letterboxed input; a class scores high
    (sigmoid) where the window is filled with its colour, a fixed mix of the RGB channels (MIX)
    plus a bias (BIAS: dark colours).
    """
    onnx = need("onnx")
    from onnx import TensorProto, helper, numpy_helper

    h, w = TINY_INPUT
    gh, gw = (h - WINDOW) // STRIDE + 1, (w - WINDOW) // STRIDE + 1
    cy, cx = np.meshgrid(np.arange(gh) * STRIDE + WINDOW / 2, np.arange(gw) * STRIDE + WINDOW / 2, indexing="ij")
    size = np.full(gh * gw, WINDOW, np.float32)
    boxes = np.stack([cx.ravel(), cy.ravel(), size, size]).astype(np.float32)[None]
    mix = np.array([MIX[c] for c in classes], np.float32).reshape(len(classes), 3, 1, 1)
    consts = {
        "mix": mix,
        "bias": np.array([BIAS.get(c, 0.0) for c in classes], np.float32),
        "thr": np.array(0.7, np.float32),
        "gain": np.array(20.0, np.float32),
        "shape": np.array([1, len(classes), gh * gw], np.int64),
        "boxes": boxes,
    }
    nodes = [
        helper.make_node("Conv", ["images", "mix", "bias"], ["mixed"]),
        helper.make_node("AveragePool", ["mixed"], ["pooled"], kernel_shape=[WINDOW, WINDOW], strides=[STRIDE] * 2),
        helper.make_node("Sub", ["pooled", "thr"], ["centred"]),
        helper.make_node("Mul", ["centred", "gain"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["scores"]),
        helper.make_node("Reshape", ["scores", "shape"], ["flat"]),
        helper.make_node("Concat", ["boxes", "flat"], ["output0"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "squares",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, h, w])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + len(classes), gh * gw])],
        [numpy_helper.from_array(v, k) for k, v in consts.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def write_square_detector(root: Path, name: str, classes: list[str], **card: object) -> Path:
    """`root/<name>/`: the exact coloured-square detector for `classes` with its model card."""
    return write_detector(root, square_detector_onnx(root / f"{name}.onnx", classes), name, classes, TINY_INPUT, **card)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width × height, with (almost) no pixel data: a decompression bomb's head."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def constant_model(rows: np.ndarray, size: int):
    """A model that always outputs `rows` (YOLOv5 layout `(N, 5 + nc)`, or any other 2-D output);
    it still reads its input."""
    onnx = need("onnx")
    from onnx import TensorProto, helper, numpy_helper

    consts = [
        numpy_helper.from_array(rows[None].astype(np.float32), "rows"),
        numpy_helper.from_array(np.zeros(1, np.float32), "zero"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["rows", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "constant",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, *rows.shape])],
        consts,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
