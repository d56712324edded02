"""Tiled inference: windows cover the frame, results are mapped back and merged across tiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import TINY_INPUT, synthetic_photo, write_detector

from service.inference import Detections, DetectParams, OnnxDetector, SessionConfig
from service.inference.tiling import TilingConfig, detect_tiled, merge_overlapping, tile_windows
from service.registry.registry import ModelRegistry


@pytest.mark.parametrize(("w", "h"), [(1920, 1080), (4032, 3024), (960, 960), (500, 3000)])
def test_windows_cover_every_pixel_inside_the_image(w: int, h: int) -> None:
    windows = tile_windows(w, h, 960, 0.2)
    covered = np.zeros((h, w), bool)
    for x1, y1, x2, y2 in windows:
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        assert x2 - x1 == min(960, w) and y2 - y1 == min(960, h)
        covered[y1:y2, x1:x2] = True
    assert covered.all()


def test_an_object_is_found_once_and_in_frame_coordinates() -> None:
    """A fake model that 'sees' a small bright square only when it is at least 20 px wide."""
    frame = np.zeros((1080, 1920, 3), np.uint8)
    frame[700:730, 1500:1530] = 255  # a 30 px pothole far ahead

    def fake_detect(img: np.ndarray) -> Detections:
        scale = min(512 / img.shape[0], 512 / img.shape[1])  # as if letterboxed to 512
        ys, xs = np.nonzero(img[..., 0])
        if not len(xs) or (xs.max() - xs.min() + 1) * scale < 20:
            return Detections()
        box = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
        return Detections(box, np.array([0.8], np.float32), np.array([0]))

    assert len(fake_detect(frame)) == 0, "too small in the downscaled full frame"
    found = detect_tiled(fake_detect, frame, TilingConfig(tile_size=640, overlap=0.25))
    assert len(found) == 1, "seen in several overlapping tiles, reported once"
    np.testing.assert_allclose(found.xyxy[0], [1500, 700, 1530, 730])


def test_merge_joins_a_box_cut_by_a_tile_border_and_keeps_other_classes() -> None:
    dets = Detections(
        np.array([[100, 100, 200, 200], [150, 100, 200, 200], [100, 100, 200, 200], [400, 400, 450, 450]], np.float32),
        np.array([0.9, 0.6, 0.5, 0.4], np.float32),
        np.array([0, 0, 1, 0]),
    )
    merged = merge_overlapping(dets, 0.6)
    assert merged.confidence.tolist() == pytest.approx([0.9, 0.5, 0.4])


def test_detector_tiles_large_frames_only_when_asked_or_configured(
    tmp_path: Path, tiny_yolo11_onnx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"c{i}" for i in range(80)]
    tiling = {"tile_size": 640, "overlap": 0.2, "min_image_side": 1600, "merge_threshold": 0.6}
    write_detector(tmp_path, tiny_yolo11_onnx, "tiled", names, TINY_INPUT, tiling=tiling)
    write_detector(tmp_path, tiny_yolo11_onnx, "plain", names, TINY_INPUT)
    registry = ModelRegistry.discover([tmp_path])
    registry.load_all(SessionConfig(intra_op_threads=1))
    plain, tiled = registry.get("plain"), registry.get("tiled")
    calls: list[tuple[int, int]] = []
    for det in (plain, tiled):
        once = det._detect_once
        monkeypatch.setattr(det, "_detect_once", lambda img, p, once=once: calls.append(img.shape[:2]) or once(img, p))

    def runs(det: OnnxDetector, image: np.ndarray, tiling: bool | None = None) -> int:
        calls.clear()
        found = det.detect(image, DetectParams(conf=0.3, iou=0.45, max_det=1000, tiling=tiling))
        assert found.xyxy.min() >= 0 and found.xyxy[:, 2].max() <= image.shape[1]
        return len(calls)

    frame = np.tile(synthetic_photo(270, 480, seed=9), (4, 4, 1))  # 1920x1080
    windows = len(tile_windows(1920, 1080, 640, 0.2))
    assert runs(tiled, frame) == 1 + windows, "the card enables tiling for large frames"
    assert runs(plain, frame) == 1
    assert runs(plain, frame, tiling=True) == 1 + len(tile_windows(1920, 1080, 960, 0.2)), "request override"
    assert runs(tiled, frame, tiling=False) == 1
    assert runs(tiled, synthetic_photo(400, 600)) == 1, "small frames are not tiled"
