"""Export a trained checkpoint to the service's formats: ONNX fp32 and ONNX Runtime INT8 (QDQ).

Each variant is checked against the PyTorch model it came from, through the same
pre-processing, decoding and NMS the service uses, so parity numbers mean "what users get".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

from service.inference import Detections, DetectParams, OnnxDetector
from service.inference.card import ModelCard
from service.inference.nms import box_iou
from service.inference.preprocess import letterbox, to_tensor
from training.checkpoint import Checkpoint
from training.datasets.layout import load_yolo_dataset
from training.dfl_rewrite import softmax_last_axis
from training.metrics import greedy_matches
from training.paths import offline, portable

FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
OPSET = 17
CALIB_PERCENTILE = 99.999


def export_fp32(checkpoint: Checkpoint, out_dir: Path, imgsz: int) -> Path:
    """Static 1x3xHxW ONNX graph without NMS, machine paths removed from its metadata and the DFL
    softmax moved to the last axis (`training.dfl_rewrite`)."""
    offline()
    target = checkpoint.export_onnx(out_dir / FP32_FILE, imgsz, OPSET)
    model = onnx.load(str(target))
    for prop in model.metadata_props:  # "trained on /home/.../data.yaml" and the like
        prop.value = portable(prop.value)
    softmax_last_axis(model)
    onnx.save(model, str(target))
    return target


def calibration_images(data_yaml: Path, count: int) -> list[Path]:
    """Evenly spaced training images: the activations INT8 ranges are fitted to."""
    files = load_yolo_dataset(data_yaml).splits.get("train", [])
    if not files:
        raise ValueError(f"{data_yaml} has no training images for INT8 calibration")
    step = max(len(files) // count, 1)
    return files[::step][:count]


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


class LetterboxCalibration(CalibrationDataReader):
    """Feeds calibration images exactly as `OnnxDetector` will feed real ones."""

    def __init__(self, images: list[Path], input_name: str, size: tuple[int, int]):
        self._feeds: Iterator[dict[str, np.ndarray]] = (
            {input_name: to_tensor(letterbox(read_rgb(p), size)[0])} for p in images
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


def head_decode_nodes(model: onnx.ModelProto) -> list[str]:
    """Nodes of the Detect layer after its conv branches (`cv2`/`cv3` in Ultralytics heads, `m.N`
    in YOLOv5's): DFL, sigmoid, box decode, concat.

    Box coordinates in pixels and scores near 0/1 quantise badly; keeping them in float
    costs nothing in speed and keeps boxes where the fp32 model puts them.
    """
    layers = [int(m.group(1)) for n in model.graph.node if (m := re.match(r"/model\.(\d+)/", n.name))]
    if not layers:
        return []
    head = f"/model.{max(layers)}/"
    return [
        n.name
        for n in model.graph.node
        if n.name.startswith(head) and not re.match(re.escape(head) + r"(cv[23]\.|m\.\d+/)", n.name)
    ]


def quantize_int8(fp32: Path, images: list[Path], exclude_head: bool = True) -> Path:
    """Static INT8 (QDQ, per-channel weights) next to the fp32 file.

    Activation ranges are the 99.999th percentile of the calibration activations, not their
    min/max: road_damage's INT8 lost 0.030 val mAP50 with MinMax (1.0.0's card) and gains
    0.016 with the percentile (1.0.1's card), the same weights.
    """
    model = onnx.load(str(fp32))
    inp = model.graph.input[0]
    h, w = (d.dim_value for d in inp.type.tensor_type.shape.dim[2:])
    out = fp32.with_name(INT8_FILE)
    quantize_static(
        str(fp32),
        str(out),
        LetterboxCalibration(images, inp.name, (h, w)),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        weight_type=QuantType.QInt8,
        activation_type=QuantType.QUInt8,
        nodes_to_exclude=head_decode_nodes(model) if exclude_head else [],
        calibrate_method=CalibrationMethod.Percentile,
        extra_options={"CalibPercentile": CALIB_PERCENTILE},
    )
    return out


@dataclass
class Parity:
    """How far a variant's served detections are from the PyTorch model's on the same images."""

    variant: str
    images: int
    reference_boxes: int
    variant_boxes: int
    matched: int
    mean_iou: float
    min_iou: float
    max_box_deviation_px: float

    @property
    def match_rate(self) -> float:
        return self.matched / self.reference_boxes if self.reference_boxes else 1.0


class TorchSession:
    """Stands in for the ONNX Runtime session inside `OnnxDetector`, running the .pt model instead."""

    def __init__(self, checkpoint: Checkpoint):
        import torch

        self._torch = torch
        self.model = checkpoint.torch_model()

    def run(self, _outputs, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        with self._torch.inference_mode():
            out = self.model(self._torch.from_numpy(next(iter(feed.values()))))
        return [(out[0] if isinstance(out, (list, tuple)) else out).numpy()]


def compare(reference: list[Detections], candidate: list[Detections], variant: str) -> Parity:
    """Match boxes per image (same class, greedy by IoU >= 0.5) and summarise the deviation."""
    ious, devs, n_ref, n_var = [], [], 0, 0
    for ref, cand in zip(reference, candidate, strict=True):
        n_ref, n_var = n_ref + len(ref), n_var + len(cand)
        if not len(ref) or not len(cand):
            continue
        iou = box_iou(ref.xyxy, cand.xyxy) * (ref.class_id[:, None] == cand.class_id[None, :])
        for r, c in greedy_matches(iou, 0.5):
            ious.append(iou[r, c])
            devs.append(float(np.abs(ref.xyxy[r] - cand.xyxy[c]).max()))
    return Parity(
        variant,
        len(reference),
        n_ref,
        n_var,
        len(ious),
        float(np.mean(ious)) if ious else 0.0,
        float(np.min(ious)) if ious else 0.0,
        max(devs, default=0.0),
    )


def check_parity(
    checkpoint: Checkpoint, card: ModelCard, folder: Path, images: list[Path], params: DetectParams
) -> dict[str, Parity]:
    """Parity of every file in the card against the PyTorch checkpoint."""
    fp32 = folder / card.files["fp32"].path
    reference = OnnxDetector(fp32, card)
    reference.session = TorchSession(checkpoint)
    rgb = [read_rgb(p) for p in images]
    ref = [reference.detect(im, params) for im in rgb]
    result = {}
    for variant, file in card.files.items():
        detector = OnnxDetector(folder / file.path, card)
        result[variant] = compare(ref, [detector.detect(im, params) for im in rgb], variant)
    return result
