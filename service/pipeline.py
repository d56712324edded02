"""One request's work: decode once, run each requested detector, shape the result.

Plain functions, no HTTP: the API, the CLI and the vehicle runtime call the same code.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from service.imaging import DecodedImage, ImageLimits, decode_image
from service.imaging.decode import TargetSide
from service.inference import Detections, DetectParams, OnnxDetector
from service.schemas import BBox, Detection, DetectResponse, ImageInfo, Location, ModelRef, Timing


@dataclass(frozen=True)
class ParamOverrides:
    """Per-request threshold overrides; None keeps the model card's default."""

    conf: float | None = None
    iou: float | None = None
    max_det: int | None = None
    tiling: bool | None = None

    def apply(self, defaults: DetectParams) -> DetectParams:
        return DetectParams(
            conf=defaults.conf if self.conf is None else self.conf,
            iou=defaults.iou if self.iou is None else self.iou,
            max_det=defaults.max_det if self.max_det is None else self.max_det,
            tiling=self.tiling,
        )


@dataclass(frozen=True)
class DetectorRun:
    detector: OnnxDetector
    detections: Detections
    elapsed_ms: float


@dataclass(frozen=True)
class ImageRun:
    image: DecodedImage
    sha256: str
    decode_ms: float
    runs: list[DetectorRun]


def decode(data: bytes, limits: ImageLimits, target_long_side: TargetSide = None) -> tuple[DecodedImage, str, float]:
    start = time.perf_counter()
    image = decode_image(data, limits, target_long_side=target_long_side)
    return image, hashlib.sha256(data).hexdigest(), (time.perf_counter() - start) * 1000


def needed_long_side(detectors: list[OnnxDetector], overrides: ParamOverrides) -> Callable[[int, int], int | None]:
    """How many pixels the detectors need of an image this large; None: all of them.

    Each detector letterboxes the image into its input, so a JPEG several times larger can be
    decoded at 1/2, 1/4 or 1/8 size by libjpeg for far less time. Tiled detectors look at
    full-resolution tiles, so a frame any of them tiles is decoded at full size.
    """

    def side(width: int, height: int) -> int | None:
        if not detectors or any(d.tiling_for(width, height, overrides.tiling) for d in detectors):
            return None
        return max(max(d.card.input_size) for d in detectors)

    return side


def run_detectors(image: DecodedImage, detectors: list[OnnxDetector], overrides: ParamOverrides) -> list[DetectorRun]:
    """Each detector on the decoded pixels; boxes in the original image's pixels."""
    runs = []
    for det in detectors:
        start = time.perf_counter()
        found = det.detect(image.pixels, overrides.apply(det.default_params()))
        if image.scale != 1.0:
            found = Detections(found.xyxy / np.float32(image.scale), found.confidence, found.class_id)
        runs.append(DetectorRun(det, found, (time.perf_counter() - start) * 1000))
    return runs


def detect_bytes(
    data: bytes,
    detectors: list[OnnxDetector],
    overrides: ParamOverrides,
    limits: ImageLimits,
    full_resolution: bool = False,
) -> ImageRun:
    """Decode once, run every detector. `full_resolution`: the pixels will be stored (anonymised)."""
    target = None if full_resolution else needed_long_side(detectors, overrides)
    image, digest, decode_ms = decode(data, limits, target)
    return ImageRun(image, digest, decode_ms, run_detectors(image, detectors, overrides))


def to_response(run: ImageRun, total_ms: float) -> DetectResponse:
    image = run.image
    meta = image.metadata
    location = None
    if meta.location is not None:
        loc = meta.location
        location = Location(lat=loc.lat, lon=loc.lon, altitude_m=loc.altitude_m, heading_deg=loc.heading_deg)
    detections = [d for r in run.runs for d in detections_of(r, run.sha256, image.width * image.height)]
    return DetectResponse(
        image=ImageInfo(
            width=image.width,
            height=image.height,
            format=image.format,
            sha256=run.sha256,
            location=location,
            captured_at=meta.captured_at,
        ),
        detections=detections,
        models=[ModelRef(name=r.detector.card.name, version=r.detector.card.version) for r in run.runs],
        timing_ms=Timing(
            decode=round(run.decode_ms, 2),
            detectors={r.detector.name: round(r.elapsed_ms, 2) for r in run.runs},
            total=round(total_ms, 2),
        ),
    )


def detections_of(run: DetectorRun, image_sha256: str, image_area: int) -> list[Detection]:
    """One detector's boxes in the API shape, with their stable ids."""
    card = run.detector.card
    dets = run.detections
    fractions = dets.area() / max(image_area, 1)
    out = []
    for box, score, cls, frac in zip(dets.xyxy, dets.confidence, dets.class_id, fractions, strict=True):
        label = card.classes[int(cls)]
        x1, y1, x2, y2 = (round(float(v), 1) for v in box)
        key = f"{image_sha256}|{card.name}|{card.version}|{label.name}|{x1},{y1},{x2},{y2}"
        out.append(
            Detection(
                id=hashlib.sha256(key.encode()).hexdigest()[:20],
                detector=card.name,
                class_name=label.name,
                class_id=int(cls),
                label_de=label.label_de,
                label_en=label.label_en,
                confidence=round(float(score), 4),
                bbox=BBox(x1=x1, y1=y1, x2=x2, y2=y2),
                area_fraction=round(float(frac), 5),
            )
        )
    return out
