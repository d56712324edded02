"""A drive folder's inputs: the square detectors, a short MJPG video and its GPX track."""

from __future__ import annotations

from pathlib import Path

import pytest
from edge_helpers import DAMAGES, write_gpx, write_square_weights, write_video

FRAMES = 80  # 8 s at 10 fps: 40 m


@pytest.fixture(scope="session")
def square_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_square_weights(tmp_path_factory.mktemp("square_weights"))


@pytest.fixture(scope="session")
def drive_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("drive_inputs")
    return write_video(folder / "drive.avi", FRAMES, DAMAGES), write_gpx(folder / "drive.gpx", FRAMES // 10)


@pytest.fixture
def edge_env(monkeypatch: pytest.MonkeyPatch, square_weights: Path) -> Path:
    """The CLI's settings: the square detectors, one ONNX Runtime thread, no API key auth."""
    monkeypatch.setenv("STADTBLICK_WEIGHTS_DIR", str(square_weights))
    monkeypatch.setenv("STADTBLICK_INTRA_OP_THREADS", "1")
    monkeypatch.setenv("STADTBLICK_AUTH", "disabled")
    monkeypatch.delenv("STADTBLICK_API_KEY", raising=False)
    return square_weights
