"""Shared fixtures: tiny real ONNX detectors and weights folders (built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import TINY_INPUT, export_tiny, write_detector


@pytest.fixture(scope="session")
def tiny_yolo11_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """YOLO11n layout: output (1, 84, N)."""
    return export_tiny("yolo11n.yaml", tmp_path_factory.mktemp("tiny_yolo11"))


@pytest.fixture(scope="session")
def tiny_yolo26_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """YOLO26n end-to-end layout: output (1, 300, 6), no NMS needed."""
    return export_tiny("yolo26n.yaml", tmp_path_factory.mktemp("tiny_yolo26"), nms=False)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory, tiny_yolo11_onnx: Path) -> Path:
    """A weights folder with one working tiny detector named `tiny` (80 generic classes)."""
    root = tmp_path_factory.mktemp("weights")
    write_detector(root, tiny_yolo11_onnx, "tiny", [f"class_{i}" for i in range(80)], TINY_INPUT)
    return root
