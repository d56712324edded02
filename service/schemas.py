"""The JSON shapes of detection results, shared by the HTTP API and `stadtblick detect --jsonl`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.times import LocalInstant


class BBox(BaseModel):
    x1: float
    y1: float
    x2: float
    y2: float


class Location(BaseModel):
    lat: float = Field(description="WGS84 latitude, degrees")
    lon: float = Field(description="WGS84 longitude, degrees")
    altitude_m: float | None = None
    heading_deg: float | None = Field(None, description="Camera heading, degrees clockwise from north")


class ImageInfo(BaseModel):
    width: int = Field(description="Width after EXIF orientation was applied")
    height: int
    format: str
    sha256: str = Field(description="sha256 of the uploaded bytes")
    location: Location | None = Field(None, description="From EXIF GPS, or null")
    captured_at: datetime | None = Field(None, description="From EXIF, or null")


class Detection(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(description="Stable id: the same image and model give the same id")
    detector: str
    class_name: str = Field(alias="class")
    class_id: int
    label_de: str
    label_en: str
    confidence: float
    bbox: BBox = Field(description="Pixels of the orientation-corrected image")
    area_fraction: float = Field(description="Share of the image area the box covers (0..1)")


class ModelRef(BaseModel):
    name: str
    version: str


class Timing(BaseModel):
    decode: float
    detectors: dict[str, float]
    total: float


DRIVE_ID_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"


class FrameFields(BaseModel):
    """Position, time and drive of an uploaded frame (query or form fields); each wins over EXIF."""

    model_config = ConfigDict(extra="ignore")

    drive_id: str | None = Field(None, pattern=DRIVE_ID_PATTERN, description="Drive (trip) the frame belongs to")
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    heading: float | None = Field(None, ge=0, lt=360, description="Degrees clockwise from north")
    captured_at: LocalInstant | None = Field(None, description="RFC 3339; without an offset the service zone applies")

    @model_validator(mode="after")
    def _lat_lon_together(self) -> FrameFields:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon must be given together")
        return self


class BatchFields(BaseModel):
    model_config = ConfigDict(extra="ignore")

    drive_id: str = Field(pattern=DRIVE_ID_PATTERN, description="Drive (trip) all frames belong to")


class StoredDetection(BaseModel):
    id: str = Field(description="The detection's id in `detections`")
    lat: float | None = Field(None, description="Estimated ground position, or null without a frame position")
    lon: float | None = None
    position_method: str | None = Field(None, description="projected (flat-ground model) or camera")
    damage_id: int | None = Field(None, description="The damage record the detection was merged into")


class StoredFrame(BaseModel):
    frame_id: int
    drive_id: str
    duplicate: bool = Field(description="The drive already had this image (same sha256): nothing changed")
    location: Location | None = Field(None, description="Camera position used (request fields, else EXIF)")
    position_source: str | None = Field(None, description="request or exif")
    captured_at: datetime | None = None
    detections: list[StoredDetection]


class BatchAccepted(BaseModel):
    job_id: str
    status_url: str
    frames: int


class JobStatus(BaseModel):
    id: str
    kind: str
    drive_id: str | None
    status: str = Field(description="queued, running, done or failed")
    total: int
    processed: int
    failed: int
    errors: list[str]
    created_at: datetime
    updated_at: datetime


class DetectResponse(BaseModel):
    image: ImageInfo
    detections: list[Detection]
    models: list[ModelRef]
    timing_ms: Timing
    stored: StoredFrame | None = Field(None, description="With store=true: how the frame was stored")


class AnonymisedRegion(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    source: str = Field(description="The detector that found it: anonymize, centerface or coco")
    class_name: str = Field(alias="class", description="face, licence_plate or person")
    confidence: float
    box: BBox = Field(description="The obscured area in pixels (the detection plus the safety margin)")


class AnonymiseReport(BaseModel):
    width: int
    height: int
    regions: list[AnonymisedRegion]
