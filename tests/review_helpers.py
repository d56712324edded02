"""Test helpers of the review workflow: a service whose `road_damage` detector is the exact square
detector (red squares are potholes, green ones cracks), and a drive stored over real HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
from fastapi import FastAPI
from gis_helpers import START, T0, along
from helpers import jpeg_bytes, write_square_detector

from service.api.app import create_app
from service.auth import Role
from service.config import Settings
from service.storage.api_keys import ApiKeyRepository

DRIVE = "r1"
CLASSES = ["pothole", "crack"]
SQUARE = (128, 160, 192, 224)  # a window of the square detector, in 320x240 frame pixels
STEP_M = 60.0  # one frame every 60 m: each frame starts a new graded segment


def review_app(database_url: str, folder: Path, **settings: object) -> FastAPI:
    """Keys required (as in production); `road_damage` is the square detector; `settings` change others."""
    weights = folder / "weights"
    weights.mkdir(parents=True, exist_ok=True)
    write_square_detector(weights, "road_damage", CLASSES)
    defaults: dict[str, object] = {"data_dir": folder / "data", "inference_workers": 1, "rate_limit_per_minute": 0}
    service_settings = Settings(
        auth="required", weights_dir=str(weights), database_url=database_url, **{**defaults, **settings}
    )
    app = create_app(service_settings, load_in_background=False)
    app.state.service.open_storage()
    return app


def keys(app: FastAPI) -> dict[str, dict[str, str]]:
    """Authorization headers of a fresh key per role, by role name."""
    out = {}
    with app.state.service.database.transaction() as session:
        for role in Role:
            secret = ApiKeyRepository(session).create(f"{role.value}-reviewer", role)[1]
            out[role.value] = {"Authorization": f"Bearer {secret}"}
    return out


def square_frame(red: int | None) -> bytes:
    """A dark frame, with a red square of this brightness (higher: more confident) or empty."""
    pixels = np.full((240, 320, 3), 10, np.uint8)
    if red is not None:
        x1, y1, x2, y2 = SQUARE
        pixels[y1:y2, x1:x2] = (red, 0, 0)
    return jpeg_bytes(pixels, quality=95)


@dataclass(frozen=True)
class StoredDrive:
    """Detection ids of the drive: a, b, c in rising confidence (the queue's order); frame ids."""

    a: int
    b: int
    c: int
    frames: list[int]


def store_drive(client: httpx.Client, headers: dict[str, str]) -> StoredDrive:
    """Four frames of drive r1, 60 m apart eastwards: potholes of rising confidence in the first
    three, nothing in the fourth (it closes the third segment)."""
    frames, detections = [], []
    for i, red in enumerate([200, 220, 240, None]):
        here = along(i * STEP_M, START)
        params = {
            "store": "true",
            "detectors": "road_damage",
            "conf": 0.3,
            "drive_id": DRIVE,
            "lat": here.lat,
            "lon": here.lon,
            "heading": 90.0,
            "captured_at": (T0 + timedelta(seconds=10 * i)).isoformat(),
        }
        r = client.post("/v1/detect", params=params, headers=headers, files={"file": (f"{i}.jpg", square_frame(red))})
        assert r.status_code == 200, r.text
        stored = r.json()["stored"]
        frames.append(stored["frame_id"])
        detections.append(len(stored["detections"]))
    assert detections == [1, 1, 1, 0], "one pothole in each of the first three frames"
    r = client.get("/v1/review/queue", params={"drive_id": DRIVE}, headers=headers)
    items = r.json()["items"]
    assert [i["frame_id"] for i in items] == frames[:3], "lowest confidence first"
    return StoredDrive(*(i["id"] for i in items), frames=frames)


def grades(client: httpx.Client, headers: dict[str, str]) -> dict[str, int]:
    r = client.get("/ogc/collections/road_condition/items", params={"drive_id": DRIVE}, headers=headers)
    return {f["id"]: f["properties"]["grade"] for f in r.json()["features"]}


def damage_statuses(client: httpx.Client, headers: dict[str, str], **params: str) -> dict[str, str]:
    """class@count -> review status of the drive's road damage records."""
    r = client.get("/ogc/collections/road_damage/items", params={"drive_id": DRIVE, **params}, headers=headers)
    assert r.status_code == 200, r.text
    return sorted((f["properties"]["class"], f["properties"]["review_status"]) for f in r.json()["features"])


def import_review(client: httpx.Client, headers: dict[str, str], folder: Path) -> tuple[Path, set[tuple]]:
    """Export the reviewed frames, import them with `stadtblick train import --source review:...`
    and check `stadtblick train validate` accepts them; returns data.yaml and its boxes as
    (class, x1, y1, x2, y2) in frame pixels, read back from the YOLO label files."""
    from training.cli import main
    from training.datasets.layout import load_yolo_dataset, read_yolo_label

    r = client.get("/v1/review/export", params={"detector": "road_damage", "drive_id": DRIVE}, headers=headers)
    assert r.status_code == 200, r.text
    export = folder / "review-r1.zip"
    export.write_bytes(r.content)
    out = folder / "dataset"
    assert main(["import", "--source", f"review:{export}", "--detector", "road_damage", "--out", str(out)]) == 0
    assert main(["validate", str(out / "data.yaml")]) == 0
    dataset = load_yolo_dataset(out / "data.yaml")
    boxes = set()
    for images in dataset.splits.values():
        for image in images:
            ids, rows = read_yolo_label(image)
            for cid, (xc, yc, w, h) in zip(ids, rows, strict=True):
                box = ((xc - w / 2) * 320, (yc - h / 2) * 240, (xc + w / 2) * 320, (yc + h / 2) * 240)
                boxes.add((dataset.names[cid], *(round(v) for v in box)))
    return out / "data.yaml", boxes
