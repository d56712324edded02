"""GeoJSON (RFC 7946) features and CSV rows of the stored records, built in Python for every backend."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from service.gis.precision import published
from service.review.status import HUMAN_CONFIRMED, REJECTED, STATUSES
from service.storage.models import DamageRecord, Detection, Frame, RoadSegment


def iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat().replace("+00:00", "Z")


def photo_url(base_url: str, frame: Frame) -> str | None:
    """The frame's stored photo; None once retention deleted it (the frame's data stays)."""
    return None if frame.image_path is None else f"{base_url}/v1/frames/{frame.id}/image"


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [published(lon), published(lat)]}


def line(coordinates: list[list[float]]) -> dict[str, Any]:
    return {"type": "LineString", "coordinates": [[published(lon), published(lat)] for lon, lat in coordinates]}


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
        "geometry": line(segment.coordinates),
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


def _property(type_: str, title: str, **extra: Any) -> dict[str, Any]:
    return {"type": type_, "title": title, **extra}


# The features' logical schemas (OGC API – Features Part 5): id, geometry type and property types,
# so clients know them before a collection holds any feature.
DAMAGE_PROPERTIES: dict[str, dict[str, Any]] = {
    "id": {"type": "integer", "x-ogc-role": "id"},
    "geometry": {"format": "geometry-point", "x-ogc-role": "primary-geometry"},
    "class": _property("string", "class", description="pothole, crack or graffiti"),
    "drive_id": _property("string", "drive"),
    "first_seen": _property("string", "first seen", format="date-time"),
    "last_seen": _property("string", "last seen", format="date-time"),
    "count": _property("integer", "sightings", minimum=1),
    "max_confidence": _property("number", "highest confidence", minimum=0, maximum=1),
    "best_frame_id": _property("integer", "frame of the most confident sighting"),
    "photo": {"type": ["string", "null"], "format": "uri", "title": "best photo (null after retention)"},
    "review_status": _property(
        "string",
        "review",
        enum=[s for s in STATUSES if s != REJECTED],
        description="the strongest decision people made on its sightings (docs/review.md)",
    ),
    "human_confirmed": _property("boolean", "confirmed, corrected or drawn by a person"),
}
SEGMENT_PROPERTIES: dict[str, dict[str, Any]] = {
    "id": {"type": "string", "x-ogc-role": "id", "description": "<drive_id>.<seq>"},
    "geometry": {"format": "geometry-linestring", "x-ogc-role": "primary-geometry"},
    "drive_id": _property("string", "drive"),
    "seq": _property("integer", "segment number within the drive", minimum=0),
    "grade": _property("integer", "grade, 1 very good to 5 urgent", minimum=1, maximum=5),
    "damage_index": _property("number", "severity-weighted damages per 100 m", minimum=0),
    "damage_count": _property("integer", "damage records", minimum=0),
    "length_m": _property("number", "length (m)", minimum=0),
    "start_time": {"type": ["string", "null"], "format": "date-time", "title": "driven from"},
    "end_time": {"type": ["string", "null"], "format": "date-time", "title": "driven until"},
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
        "lon": published(detection.lon) if detection.lon is not None else None,
        "lat": published(detection.lat) if detection.lat is not None else None,
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
