"""A synthetic drive: a tiny ONNX detector that finds coloured squares, a video of a road with
damages approaching the camera as the vehicle drives east, and the matching GPX track.

The detector (helpers.square_detector_onnx) is deterministic and exact, so the tests can check
positions and the agreement with the server rather than the behaviour of a random network.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
from gis_helpers import HEIGHT, T0, WIDTH, along, row_of_ground_point
from helpers import write_square_detector

from service.inference.card import ModelFile, read_card, sha256_file, write_card

SPEED_MPS, FPS = 5.0, 10.0
SQUARE = 64  # pixels of a damage in the 320x240 frame: exactly one detector window
VISIBLE_M = (3.0, 15.0)  # a damage shows between 3 m (then under the bonnet) and 15 m ahead

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
COLOUR = {"pothole": RED, "crack": GREEN}


def write_square_weights(root: Path) -> Path:
    """`road_damage` (pothole, crack; an fp32 and an `int8` file) and `anonymize` (face)."""
    road = write_square_detector(root, "road_damage", ["pothole", "crack"])
    shutil.copy(road / "model.onnx", road / "model.int8.onnx")  # stands in for a quantised file
    card = read_card(road)
    int8 = ModelFile(path="model.int8.onnx", sha256=sha256_file(road / "model.int8.onnx"), precision="int8")
    write_card(road, card.model_copy(update={"files": {**card.files, "int8": int8}}))
    write_square_detector(root, "anonymize", ["face"])
    return root


@dataclass(frozen=True)
class Damage:
    class_name: str
    at_m: float  # metres east of START, on the road centre line


# Damages seen at 14 m (pothole) then 26 m (crack) and 38 m (pothole) east of START: three events.
DAMAGES = [Damage("pothole", 14.0), Damage("crack", 26.0), Damage("pothole", 38.0)]


def travelled(index: int) -> float:
    return SPEED_MPS * index / FPS


def render(index: int, damages: list[Damage], rng: np.random.Generator) -> np.ndarray:
    """Frame `index` (RGB): grey road texture, the visible damages, a striped 'face' top left."""
    img = rng.integers(40, 70, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    for d in damages:
        ahead = d.at_m - travelled(index)
        if VISIBLE_M[0] <= ahead < VISIBLE_M[1]:
            bottom = round(row_of_ground_point(ahead))
            left = WIDTH // 2 - SQUARE // 2
            img[bottom - SQUARE : bottom, left : left + SQUARE] = COLOUR[d.class_name]
    face = np.zeros((SQUARE, SQUARE, 3), np.uint8)
    face[..., 2] = 255
    face[::6, :, 2] = 170  # stripes: the detail a blur must remove
    img[8 : 8 + SQUARE, 8 : 8 + SQUARE] = face
    return img


def write_video(path: Path, frames: int, damages: list[Damage]) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (WIDTH, HEIGHT))
    assert writer.isOpened(), "OpenCV cannot write MJPG video"
    rng = np.random.default_rng(0)
    for i in range(frames):
        writer.write(cv2.cvtColor(render(i, damages, rng), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def write_gpx(path: Path, seconds: int, t0: datetime = T0, lead_s: int = 2) -> Path:
    """1 Hz fixes driving east at SPEED_MPS, starting `lead_s` before the video (as loggers do)."""
    points = []
    for s in range(-lead_s, seconds + lead_s + 1):
        p = along(SPEED_MPS * s)
        t = (t0 + timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%SZ")
        points.append(f'<trkpt lat="{p.lat:.8f}" lon="{p.lon:.8f}"><ele>40.0</ele><time>{t}</time></trkpt>')
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">'
        f"<trk><trkseg>{''.join(points)}</trkseg></trk></gpx>\n",
        encoding="utf-8",
    )
    return path
