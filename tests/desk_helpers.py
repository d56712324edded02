"""Synthetic photos of found items for the desk's tests, and an app with the colour-square detector
standing in for the lost_property detector (black squares: umbrella, red squares: backpack)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from fastapi import FastAPI
from helpers import TINY_INPUT, jpeg_bytes, square_detector_onnx, write_detector

from service.api.app import create_app
from service.config import Settings

DESK_CLASSES = ["umbrella", "backpack"]
TABLE = (225, 215, 200)  # the desk's light counter top


def desk_weights(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    onnx_path = square_detector_onnx(root / "squares.onnx", DESK_CLASSES)
    write_detector(root, onnx_path, "lost_property", DESK_CLASSES, TINY_INPUT)
    return root


def desk_app(weights: Path, data: Path, **settings: object) -> FastAPI:
    return create_app(
        Settings(weights_dir=str(weights), data_dir=data, database_url=f"sqlite:///{data / 'desk.db'}", **settings),
        load_in_background=False,
    )


def umbrella_photo(
    colour: tuple[int, int, int] = (18, 18, 20),
    shift: tuple[int, int] = (0, 0),
    scale: float = 1.0,
    light: float = 1.0,
    seed: int = 0,
) -> bytes:
    """A 640 × 480 photo of an opened umbrella (canopy, ribs, handle) on the counter."""
    rng = np.random.default_rng(seed)
    img = np.empty((480, 640, 3), np.uint8)
    img[:] = TABLE
    img = np.clip(img.astype(np.int16) + rng.integers(-6, 7, img.shape), 0, 255).astype(np.uint8)
    cx, cy = 320 + shift[0], 300 + shift[1]
    r = int(185 * scale)
    cv2.ellipse(img, (cx, cy), (r, int(r * 0.95)), 0, 180, 360, colour, -1)
    rib = tuple(min(255, c + 35) for c in colour)
    for angle in (200, 235, 270, 305, 340):
        end = (cx + int(r * np.cos(np.radians(angle))), cy + int(r * 0.95 * np.sin(np.radians(angle))))
        cv2.line(img, (cx, cy), end, rib, 2)
    cv2.line(img, (cx, cy), (cx, cy + int(120 * scale)), (90, 60, 30), max(2, int(8 * scale)))
    cv2.ellipse(img, (cx - int(18 * scale), cy + int(120 * scale)), (int(18 * scale),) * 2, 0, 0, 180, (90, 60, 30), 6)
    lit = np.clip(img.astype(np.float32) * light, 0, 255).astype(np.uint8)
    return jpeg_bytes(lit)


def bag_photo(colour: tuple[int, int, int] = (230, 20, 20)) -> bytes:
    """A rectangular bag with a strap."""
    img = np.empty((480, 640, 3), np.uint8)
    img[:] = TABLE
    cv2.rectangle(img, (200, 150), (460, 420), colour, -1)
    cv2.ellipse(img, (330, 150), (80, 60), 0, 180, 360, (60, 40, 30), 8)
    return jpeg_bytes(img)
