"""The one-way path of an upload that is kept: detect -> anonymise -> persist -> respond.

Plain functions, no HTTP: `POST /v1/detect?store=true` and the batch worker call the same code
(docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from service.gis.ingest import FrameContext, FrameIngestor, IngestResult
from service.imaging import ImageLimits
from service.inference import OnnxDetector
from service.pipeline import ImageRun, ParamOverrides, detect_bytes
from service.schemas import Location, StoredDetection, StoredFrame


@dataclass(frozen=True)
class StoredRun:
    run: ImageRun
    result: IngestResult


def detect_and_store(
    data: bytes,
    detectors: list[OnnxDetector],
    overrides: ParamOverrides,
    limits: ImageLimits,
    context: FrameContext,
    ingestor: FrameIngestor,
    regrade: bool = True,
) -> StoredRun:
    """Detect on the full-resolution pixels, then keep the frame: the ingestor anonymises
    (`PrivacyGuard.storable`) before it writes anything, once per (drive, sha256)."""
    run = detect_bytes(data, detectors, overrides, limits, full_resolution=True)
    return StoredRun(run, ingestor.ingest(run, context, regrade))


def stored_frame(result: IngestResult) -> StoredFrame:
    """What the response says about the kept frame."""
    location = None
    if result.lat is not None and result.lon is not None:
        location = Location(lat=result.lat, lon=result.lon, heading_deg=result.heading_deg)
    return StoredFrame(
        frame_id=result.frame_id,
        drive_id=result.drive_id,
        duplicate=result.duplicate,
        location=location,
        position_source=result.position_source,
        captured_at=result.captured_at,
        detections=[
            StoredDetection(id=d.key, lat=d.lat, lon=d.lon, position_method=d.position_method, damage_id=d.damage_id)
            for d in result.detections
        ],
    )
