"""GeoJSON (RFC 7946) features and CSV rows of the stored records, built in Python for every backend."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from service.review.status import HUMAN_CONFIRMED
from service.storage.models import DamageRecord, Detection, Frame, RoadSegment


def iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat().replace("+00:00", "Z")


def photo_url(base_url: str, frame: Frame) -> str | None:
    """The frame's stored photo; None once retention deleted it (the frame's data stays)."""
    return None if frame.image_path is None else f"{base_url}/v1/frames/{frame.id}/image"


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]}


def damage_feature(record: DamageRecord, base_url: str) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": record.id,
        "geometry": point(record.lon, record.lat),
        "properties": {
            "class": record.class_name,
            "drive_id": record.drive_id,
            "first_seen": iso(record.first_seen),
            "last_seen": iso(record.last_seen),
            "count": record.count,
            "max_confidence": round(record.max_confidence, 4),
            "best_frame_id": record.best_frame_id,
            "photo": photo_url(base_url, record.best_frame),
            "review_status": record.review_status,
            "human_confirmed": record.review_status in HUMAN_CONFIRMED,
        },
    }


def segment_feature(segment: RoadSegment, base_url: str) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": segment.id,
        "geometry": {"type": "LineString", "coordinates": [[round(x, 7), round(y, 7)] for x, y in segment.coordinates]},
        "properties": {
            "drive_id": segment.drive_id,
            "seq": segment.seq,
            "grade": segment.grade,
            "damage_index": segment.damage_index,
            "damage_count": segment.damage_count,
            "length_m": segment.length_m,
            "start_time": iso(segment.start_time),
            "end_time": iso(segment.end_time),
        },
    }


def detection_properties(detection: Detection, base_url: str) -> dict[str, Any]:
    """Flat properties: the same columns for GeoJSON and CSV."""
    frame = detection.frame
    return {
        "id": detection.id,
        "detection_key": detection.key,
        "detector": detection.detector,
        "detector_version": detection.detector_version,
        "class": detection.class_name,
        "confidence": detection.confidence,
        "review_status": detection.review_status,
        "human_confirmed": detection.review_status in HUMAN_CONFIRMED,
        "reviewed_at": iso(detection.reviewed_at),
        "model_class": detection.model_class_name or (detection.class_name if detection.detector_version else None),
        "lon": round(detection.lon, 7) if detection.lon is not None else None,
        "lat": round(detection.lat, 7) if detection.lat is not None else None,
        "position_method": detection.position_method,
        "damage_id": detection.damage_id,
        "frame_id": frame.id,
        "drive_id": frame.drive_id,
        "captured_at": iso(frame.captured_at),
        "camera_lon": frame.lon,
        "camera_lat": frame.lat,
        "heading_deg": frame.heading_deg,
        "x1": detection.x1,
        "y1": detection.y1,
        "x2": detection.x2,
        "y2": detection.y2,
        "photo": photo_url(base_url, frame),
    }


def detection_feature(detection: Detection, base_url: str) -> dict[str, Any]:
    props = detection_properties(detection, base_url)
    feature_id = props.pop("id")
    return {"type": "Feature", "id": feature_id, "geometry": point(props["lon"], props["lat"]), "properties": props}


DETECTION_COLUMNS = (
    "id",
    "detection_key",
    "detector",
    "detector_version",
    "class",
    "confidence",
    "review_status",
    "human_confirmed",
    "reviewed_at",
    "model_class",
    "lon",
    "lat",
    "position_method",
    "damage_id",
    "frame_id",
    "drive_id",
    "captured_at",
    "camera_lon",
    "camera_lat",
    "heading_deg",
    "x1",
    "y1",
    "x2",
    "y2",
    "photo",
)


def detections_csv(detections: list[Detection], base_url: str) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=DETECTION_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for d in detections:
        writer.writerow(detection_properties(d, base_url))
    return out.getvalue()
