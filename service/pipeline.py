"""One request's work: decode once, run each requested detector, shape the result.

Plain functions, no HTTP: the API, the CLI and the vehicle runtime call the same code.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from service.imaging import DecodedImage, ImageLimits, decode_image
from service.imaging.decode import TargetSide
from service.inference import Detections, DetectParams, OnnxDetector
from service.inference.card import ModelCard
from service.inference.detections import DETECTION_ID, LABEL_DE, LABEL_EN
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


def decode_upload(
    data: bytes, limits: ImageLimits, target_long_side: TargetSide = None
) -> tuple[DecodedImage, str, float]:
    """(pixels, sha256 of the uploaded bytes, milliseconds it took)."""
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


def run_detectors(
    image: DecodedImage, sha256: str, detectors: list[OnnxDetector], overrides: ParamOverrides
) -> list[DetectorRun]:
    """Each detector on the decoded pixels; boxes in the original image's pixels, with their ids."""
    runs = []
    for det in detectors:
        start = time.perf_counter()
        found = det.detect(image.pixels, overrides.apply(det.default_params()))
        if image.scale != 1.0:
            found = replace(found, xyxy=found.xyxy / np.float32(image.scale))
        found = found.with_data(**{DETECTION_ID: detection_ids(found, det.card, sha256)})
        runs.append(DetectorRun(det, found, (time.perf_counter() - start) * 1000))
    return runs


def rounded_box(xyxy: np.ndarray) -> tuple[float, float, float, float]:
    """A box as the API shows and the database keeps it: to a tenth of a pixel."""
    x1, y1, x2, y2 = (round(float(v), 1) for v in xyxy)
    return x1, y1, x2, y2


def detection_ids(found: Detections, card: ModelCard, image_sha256: str) -> np.ndarray:
    """Stable ids: the same box of the same model on the same image always gets the same one."""
    ids = []
    for box, name in zip(found.xyxy, found.class_name, strict=True):
        x1, y1, x2, y2 = rounded_box(box)
        key = f"{image_sha256}|{card.name}|{card.version}|{name}|{x1},{y1},{x2},{y2}"
        ids.append(hashlib.sha256(key.encode()).hexdigest()[:20])
    return np.array(ids, object)


def detect_bytes(
    data: bytes,
    detectors: list[OnnxDetector],
    overrides: ParamOverrides,
    limits: ImageLimits,
    full_resolution: bool = False,
) -> ImageRun:
    """Decode once, run every detector. `full_resolution`: the pixels will be stored (anonymised)."""
    target = None if full_resolution else needed_long_side(detectors, overrides)
    image, digest, decode_ms = decode_upload(data, limits, target)
    return ImageRun(image, digest, decode_ms, run_detectors(image, digest, detectors, overrides))


def to_response(run: ImageRun, total_ms: float) -> DetectResponse:
    image = run.image
    meta = image.metadata
    location = None
    if meta.location is not None:
        loc = meta.location
        location = Location(lat=loc.lat, lon=loc.lon, altitude_m=loc.altitude_m, heading_deg=loc.heading_deg)
    detections = [d for r in run.runs for d in detections_of(r, image.width * image.height)]
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


def detections_of(run: DetectorRun, image_area: int) -> list[Detection]:
    """One detector's boxes in the API shape (the response splits the columns per box)."""
    dets = run.detections
    fractions = dets.area() / max(image_area, 1)
    columns = zip(
        dets.column(DETECTION_ID),
        dets.xyxy,
        dets.confidence,
        dets.class_id,
        dets.class_name,
        dets.column(LABEL_DE),
        dets.column(LABEL_EN),
        fractions,
        strict=True,
    )
    out = []
    for det_id, box, score, cls, name, label_de, label_en, frac in columns:
        x1, y1, x2, y2 = rounded_box(box)
        out.append(
            Detection(
                id=det_id,
                detector=run.detector.card.name,
                class_name=name,
                class_id=int(cls),
                label_de=label_de,
                label_en=label_en,
                confidence=round(float(score), 4),
                bbox=BBox(x1=x1, y1=y1, x2=x2, y2=y2),
                area_fraction=round(float(frac), 5),
            )
        )
    return out
