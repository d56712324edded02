"""Letterbox pre-processing, pixel-identical to Ultralytics' `LetterBox(auto=False)`.

Parity with Ultralytics matters: the same image must give the same tensor, or boxes drift
between what was evaluated during training and what the service returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True)
class Letterbox:
    """How an image was mapped into the model input; inverted to bring boxes back."""

    gain_x: float
    gain_y: float
    pad_left: int
    pad_top: int
    orig_width: int
    orig_height: int

    def to_original(self, xyxy: np.ndarray) -> np.ndarray:
        """Map model-input boxes back to original pixels, clipped to the image."""
        out = xyxy.astype(np.float32, copy=True)
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_left) / self.gain_x
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_top) / self.gain_y
        out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, self.orig_width)
        out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, self.orig_height)
        return out


def letterbox(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping aspect ratio and pad to `size` (height, width) with grey 114."""
    h, w = image.shape[:2]
    out_h, out_w = size
    r = min(out_h / h, out_w / w)
    new_w, new_h = max(round(w * r), 1), max(round(h * r), 1)
    dw, dh = (out_w - new_w) / 2, (out_h - new_h) / 2
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    if (w, h) != (new_w, new_h):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    image = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return image, Letterbox(new_w / w, new_h / h, left, top, w, h)


def to_tensor(image_rgb: np.ndarray) -> np.ndarray:
    """HWC uint8 RGB -> NCHW float32 in [0, 1], the layout YOLO ONNX exports expect."""
    chw = np.ascontiguousarray(image_rgb.transpose(2, 0, 1)[None])
    return chw.astype(np.float32) * np.float32(1 / 255)
