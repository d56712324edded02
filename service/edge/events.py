"""An event -- one object seen along the drive -- and what it leaves in the drive folder:
an anonymised best frame (what is uploaded), a crop of it, and a GeoJSON feature.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from service.edge.tracker import Track
from service.geo.geojson import iso, point
from service.inference import OnnxDetector

GEOJSON_FILE = "detections.geojson"
FRAMES_DIR, CROPS_DIR = "frames", "crops"
JPEG_QUALITY = 90
CROP_MARGIN = 0.25  # share of the box added on each side: the surroundings show where it is
_NAMESPACE = uuid.UUID("4f1f4a39-5a1c-4f57-9a7e-3b8d1b0c2e61")


def event_id(drive_id: str, track_id: int) -> str:
    """Deterministic per drive and track: a re-run of the same drive gives the same ids."""
    return str(uuid.uuid5(_NAMESPACE, f"{drive_id}/{track_id}"))


def crop(rgb: np.ndarray, xyxy: tuple[float, float, float, float], margin: float = CROP_MARGIN) -> np.ndarray:
    h, w = rgb.shape[:2]
    x1, y1, x2, y2 = xyxy
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    left, top = max(int(x1 - mx), 0), max(int(y1 - my), 0)
    right, bottom = min(int(np.ceil(x2 + mx)), w), min(int(np.ceil(y2 + my)), h)
    return rgb[top : max(bottom, top + 1), left : max(right, left + 1)]


def write_atomic(path: Path, data: bytes) -> None:
    """Write then rename: a crash never leaves half a file for the uploader to send."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def upload_fields(drive_id: str, track: Track) -> dict[str, Any]:
    """The `POST /v1/detect?store=true` fields of the event's best frame."""
    best = track.best
    position = best.pose.position
    return {
        "drive_id": drive_id,
        "lat": round(position.lat, 8) if position else None,
        "lon": round(position.lon, 8) if position else None,
        "heading": round(best.pose.heading_deg, 2) % 360.0 if best.pose.heading_deg is not None else None,
        "captured_at": iso(best.time),
    }


def feature(eid: str, drive_id: str, track: Track, detector: OnnxDetector) -> dict[str, Any]:
    """The event as a GeoJSON feature at its estimated ground position (null without GPS).

    The position is the mean of the sightings projected onto the road, else the camera
    position of the best frame (`position_method` says which).
    """
    best = track.best
    ground = track.ground
    camera = best.pose.position
    geometry_at = ground or camera
    return {
        "type": "Feature",
        "id": eid,
        "geometry": point(geometry_at.lon, geometry_at.lat) if geometry_at else None,
        "properties": {
            "event_id": eid,
            "drive_id": drive_id,
            "detector": detector.name,
            "model_version": detector.card.version,
            "class": best.class_name,
            "label_de": best.labels[0],
            "label_en": best.labels[1],
            "confidence": round(best.confidence, 4),
            "sightings": track.hits,
            "first_seen": iso(track.first_time),
            "last_seen": iso(track.last.time),
            "first_frame": track.first_index,
            "last_frame": track.last.frame_index,
            "best_frame": best.frame_index,
            "captured_at": iso(best.time),
            "position_method": "projected" if ground else ("camera" if camera else None),
            "camera_position": point(camera.lon, camera.lat)["coordinates"] if camera else None,
            "heading_deg": round(best.pose.heading_deg, 2) if best.pose.heading_deg is not None else None,
            "bbox": [round(float(v), 1) for v in best.xyxy],
            "crop": f"{CROPS_DIR}/{eid}.jpg",
            "frame": f"{FRAMES_DIR}/{eid}.jpg",
        },
    }


def write_geojson(path: Path, features: list[dict[str, Any]], metadata: dict[str, Any]) -> None:
    collection = {"type": "FeatureCollection", "metadata": metadata, "features": features}
    write_atomic(path, (json.dumps(collection, indent=1, ensure_ascii=False) + "\n").encode())
