"""Large JPEGs are decoded at reduced size when no detector needs the full resolution, and the
boxes still come back in the original image's pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import jpeg_bytes, write_square_detector

from service.imaging import DEFAULT_LIMITS
from service.inference import OnnxDetector
from service.inference.card import read_card
from service.inference.tiling import TilingConfig
from service.pipeline import ParamOverrides, detect_bytes


def _detector(tmp_path: Path, **card: object) -> OnnxDetector:
    folder = write_square_detector(tmp_path, "road", ["pothole"], thresholds={"conf": 0.5, "iou": 0.3}, **card)
    return OnnxDetector(folder / "model.onnx", read_card(folder))


@pytest.fixture
def frame() -> bytes:
    """1280 x 960 with a red 256 px square: one detector window after letterboxing to 160 px."""
    pixels = np.full((960, 1280, 3), 40, np.uint8)
    pixels[256:512, 384:640] = (255, 0, 0)
    return jpeg_bytes(pixels, quality=95)


def test_reduced_decode_finds_the_same_box_in_original_pixels(tmp_path: Path, frame: bytes) -> None:
    det = _detector(tmp_path)
    fast = detect_bytes(frame, [det], ParamOverrides(), DEFAULT_LIMITS)
    full = detect_bytes(frame, [det], ParamOverrides(), DEFAULT_LIMITS, full_resolution=True)
    assert fast.image.scale == 1 / 8  # 160 px long side: still the model input
    assert full.image.scale == 1.0
    assert (fast.image.width, fast.image.height) == (full.image.width, full.image.height) == (1280, 960)
    (fast_run,), (full_run,) = fast.runs, full.runs
    assert len(fast_run.detections) == len(full_run.detections) == 1
    np.testing.assert_allclose(fast_run.detections.xyxy, full_run.detections.xyxy, atol=8)
    np.testing.assert_allclose(full_run.detections.xyxy[0], [384, 256, 640, 512], atol=16)


def test_frames_a_detector_tiles_are_decoded_at_full_size(tmp_path: Path, frame: bytes) -> None:
    det = _detector(tmp_path, tiling=TilingConfig(tile_size=640, min_image_side=1200))
    assert detect_bytes(frame, [det], ParamOverrides(), DEFAULT_LIMITS).image.scale == 1.0
    untiled = detect_bytes(frame, [det], ParamOverrides(tiling=False), DEFAULT_LIMITS)
    assert untiled.image.scale < 1.0
