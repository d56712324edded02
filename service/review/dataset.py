"""The review data as a training source: the reviewed, anonymised frames of one detector with the
boxes people stand behind, as a zip that `stadtblick train import --source review:FILE.zip` reads.

The zip holds `manifest.json` (source `review`, detector, drives with their dates, and per frame
its boxes in pixels) and `images/<drive>-<frame>.jpg`, the stored anonymised JPEGs. A frame is in
it once every box of the detector on it has a decision; rejected boxes are left out (a frame with
nothing left teaches "no damage here").
"""

from __future__ import annotations

import json
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from service.auth.keys import Principal
from service.geo.geojson import iso
from service.review_status import HUMAN_CONFIRMED
from service.storage import audit
from service.storage.filtering import Interval
from service.storage.frame_images import FrameStore
from service.storage.models import Frame, utcnow
from service.storage.reviews import reviewed_frames

SOURCE = "review"
MANIFEST = "manifest.json"
FORMAT_VERSION = 1
EXPORT = "export"  # the audit action, per frame


@dataclass(frozen=True)
class ReviewExport:
    frames: int
    boxes: int


def export_reviewed(
    session: Session,
    images: FrameStore,
    principal: Principal,
    out: BinaryIO,
    detector: str,
    drive_id: str | None = None,
    interval: Interval | None = None,
) -> ReviewExport:
    """Zip the reviewed frames into `out` (a file: a drive's frames need not fit in memory);
    each exported frame is in the audit log (action `export`)."""
    entries: list[dict[str, Any]] = []
    dates: dict[str, set[str]] = defaultdict(set)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:  # JPEGs do not compress further
        for frame in reviewed_frames(session, detector, drive_id, interval):
            jpeg = images.read(frame.image_path) if frame.image_path else None
            if jpeg is None:
                continue
            name = f"images/{frame.drive_id}-{frame.id}.jpg"
            zf.writestr(name, jpeg)
            entries.append(_frame_entry(frame, detector, name))
            dates[frame.drive_id].add(frame.observed_at.date().isoformat())
            audit.record(session, principal, EXPORT, f"frame:{frame.id}")
        manifest = {
            "source": SOURCE,
            "format": FORMAT_VERSION,
            "detector": detector,
            "exported_at": iso(utcnow().replace(microsecond=0)),
            "drives": [
                {"drive_id": d, "dates": sorted(days), "frames": sum(e["drive_id"] == d for e in entries)}
                for d, days in sorted(dates.items())
            ],
            "frames": entries,
        }
        zf.writestr(MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return ReviewExport(len(entries), sum(len(e["boxes"]) for e in entries))


def _frame_entry(frame: Frame, detector: str, file: str) -> dict[str, Any]:
    kept = sorted(
        (d for d in frame.detections if d.detector == detector and d.review_status in HUMAN_CONFIRMED),
        key=lambda d: d.id,
    )
    return {
        "file": file,
        "frame_id": frame.id,
        "drive_id": frame.drive_id,
        "date": frame.observed_at.date().isoformat(),
        "captured_at": iso(frame.captured_at),
        "width": frame.width,
        "height": frame.height,
        "boxes": [
            {
                "class": d.class_name,
                "box": [d.x1, d.y1, d.x2, d.y2],
                "review_status": d.review_status,
                "detection_id": d.id,
            }
            for d in kept
        ],
    }
