"""The JSON shapes of detection results, shared by the HTTP API and `stadtblick detect --jsonl`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


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


class DetectResponse(BaseModel):
    image: ImageInfo
    detections: list[Detection]
    models: list[ModelRef]
    timing_ms: Timing
