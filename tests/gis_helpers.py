"""Test helpers for storage and GIS: drives along a straight road, frames with known damages."""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import uvicorn
from fastapi import FastAPI
from helpers import jpeg_bytes, synthetic_photo

from service.api.app import create_app
from service.config import Settings
from service.gis.geodesy import LonLat, offset
from service.gis.ground_position import CameraModel
from service.gis.ingest import FrameContext, FrameIngestor
from service.imaging import DEFAULT_LIMITS
from service.inference import Detections
from service.pipeline import DetectorRun, ImageRun, decode
from service.registry.card import ClassLabel, ModelCard, ModelFile

START = LonLat(13.4050, 52.5200)  # Berlin, Alexanderplatz
T0 = datetime(2025, 5, 1, 8, 0, tzinfo=timezone.utc)
WIDTH, HEIGHT = 320, 240
CAMERA = CameraModel()
CLASSES = ["pothole", "crack", "graffiti"]


@dataclass(frozen=True)
class Box:
    class_name: str
    confidence: float
    xyxy: tuple[float, float, float, float]


def fake_detector(name: str = "road_damage") -> SimpleNamespace:
    """Stands in for an OnnxDetector where only the model card is read (storage-level tests)."""
    card = ModelCard(
        name=name,
        version="0.0.1-test",
        classes=[ClassLabel(id=i, name=n, label_de=n, label_en=n) for i, n in enumerate(CLASSES)],
        input_size=(128, 160),
        files={"fp32": ModelFile(path="model.onnx", sha256="0" * 64)},
    )
    return SimpleNamespace(card=card, name=name)


def frame_run(seed: int, boxes: list[Box], detector: SimpleNamespace | None = None) -> ImageRun:
    """A real decoded JPEG (distinct per seed) with the given detections injected."""
    data = jpeg_bytes(synthetic_photo(HEIGHT, WIDTH, seed=seed))
    image, digest, decode_ms = decode(data, DEFAULT_LIMITS)
    dets = Detections(
        np.array([b.xyxy for b in boxes], np.float32).reshape(-1, 4),
        np.array([b.confidence for b in boxes], np.float32),
        np.array([CLASSES.index(b.class_name) for b in boxes], np.int64),
    )
    return ImageRun(image, digest, decode_ms, [DetectorRun(detector or fake_detector(), dets, 1.0)])


def row_of_ground_point(distance_m: float, camera: CameraModel = CAMERA) -> float:
    """The image row (pixels) where a road point `distance_m` straight ahead appears."""
    f = (WIDTH / 2) / math.tan(math.radians(camera.hfov_deg) / 2)
    below_axis = math.atan2(camera.height_m, distance_m) - math.radians(camera.pitch_deg)
    return HEIGHT / 2 + f * math.tan(below_axis)


def box_ahead(class_name: str, confidence: float, distance_m: float) -> Box:
    """A box centred in the image whose bottom edge touches the road `distance_m` ahead."""
    bottom = row_of_ground_point(distance_m)
    return Box(class_name, confidence, (WIDTH / 2 - 20, bottom - 15, WIDTH / 2 + 20, bottom))


def along(distance_m: float, start: LonLat = START) -> LonLat:
    """The point `distance_m` east of `start` (drives go east)."""
    return offset(start, 90.0, distance_m)


def frame_time(index: int, t0: datetime = T0) -> datetime:
    return t0 + timedelta(seconds=index)


def drive(
    ingestor: FrameIngestor,
    drive_id: str,
    damages: dict[float, str],
    length_m: float = 300.0,
    step_m: float = 10.0,
    seed: int = 0,
    start: LonLat = START,
    t0: datetime = T0,
) -> int:
    """Drive east from START taking a frame every `step_m`; a damage `d` metres along the road
    (``damages[d] = class``) is seen in every frame 3 to <18 m before it, clearer when closer.
    Returns the number of frames."""
    steps = int(length_m // step_m) + 1
    for i in range(steps):
        s = i * step_m
        boxes = [box_ahead(cls, round(0.9 - 0.02 * (d - s), 3), d - s) for d, cls in damages.items() if 3 <= d - s < 18]
        here = along(s, start)
        context = FrameContext(drive_id, lat=here.lat, lon=here.lon, heading_deg=90.0, captured_at=frame_time(i, t0))
        ingestor.ingest(frame_run(seed + i, boxes), context, regrade=False)
    ingestor.regrade(drive_id)
    return steps


D2_START = offset(START, 0.0, 1000.0)
D2_T0 = datetime(2025, 6, 1, 9, 0, tzinfo=timezone.utc)


def seeded_app(database_url: str, data_dir: Path, weights_dir: Path) -> FastAPI:
    """The app (schema migrated) with two drives stored through the storage layer.

    Drive `d1` (2025-05-01, Berlin): 300 m east from START with three potholes at 120-140 m, a
    crack at 200 m and graffiti at 260 m. Drive `d2` (2025-06-01): 100 m in 5 m steps, 1 km
    north, one pothole seen three times.
    """
    app = create_app(
        Settings(weights_dir=str(weights_dir), data_dir=data_dir, database_url=database_url, inference_workers=1),
        load_in_background=False,
    )
    state = app.state.service
    state.open_storage()
    d1 = {120.0: "pothole", 130.0: "pothole", 140.0: "pothole", 200.0: "crack", 260.0: "graffiti"}
    drive(state.ingestor, "d1", d1)
    drive(state.ingestor, "d2", {40.0: "pothole"}, length_m=100, step_m=5, seed=1000, start=D2_START, t0=D2_T0)
    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(app: FastAPI, log_level: str = "warning") -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port in a thread; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level=log_level))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
