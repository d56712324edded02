"""Finding faces and licence plates and destroying their detail, before an image is kept or sent.

Several sources may find them: the project's `anonymize` detector (faces, licence plates),
CenterFace (faces), a COCO detector's `person` class (whole people, optional). Every box any
of them finds above a low, recall-oriented threshold is widened by a safety margin and
obscured; the obscuring is irreversible (detail is averaged away, nothing is encrypted or kept).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import cv2
import numpy as np

from service.inference import Detections, DetectParams

Mode = Literal["blur", "pixelate"]
FACE, LICENCE_PLATE, PERSON = "face", "licence_plate", "person"
DETAIL = 8  # samples kept across the longer side of a region: less than a face or a plate needs to be read


class Detector(Protocol):
    def detect(self, image_rgb: np.ndarray, params: DetectParams | None = None) -> Detections: ...


@dataclass(frozen=True)
class AnonymiseConfig:
    mode: Mode = "blur"
    margin: float = 0.25  # share of the box's width/height added on each side: hair, ears, plate frames
    conf: float = 0.05  # low on purpose: a blurred background patch costs little, a missed face a lot
    ellipse_faces: bool = False  # obscure faces inside the ellipse of their box only
    tile_min_side: int = 1600  # larger frames are also searched tile by tile (small, far plates)


@dataclass(frozen=True)
class Source:
    """A detector and the classes of it that are obscured (all others are ignored)."""

    name: str
    detector: Detector
    obscured: frozenset[str]
    iou: float = 0.45
    max_det: int = 300


@dataclass(frozen=True)
class Region:
    """An obscured area: who found it, what it is, and the box with its margin (integer pixels)."""

    source: str
    class_name: str
    confidence: float
    box: tuple[int, int, int, int]  # x1, y1, x2, y2; x2/y2 exclusive, inside the image


@dataclass(frozen=True)
class Anonymised:
    pixels: np.ndarray
    regions: list[Region] = field(default_factory=list)


class Anonymiser:
    def __init__(self, sources: list[Source], config: AnonymiseConfig | None = None):
        if not sources:
            raise ValueError("an anonymiser needs at least one source")
        self.sources = sources
        self.config = config or AnonymiseConfig()

    @property
    def covers(self) -> frozenset[str]:
        """The classes some source obscures."""
        return frozenset().union(*(s.obscured for s in self.sources))

    def only(self, names: Iterable[str]) -> Anonymiser:
        """The same anonymiser restricted to these sources (to measure what each contributes)."""
        wanted = set(names)
        return Anonymiser([s for s in self.sources if s.name in wanted], self.config)

    def with_source(self, source: Source) -> Anonymiser:
        """The same anonymiser with `source` in place of its namesake (or added): to measure a candidate model."""
        if all(s.name != source.name for s in self.sources):
            return Anonymiser([*self.sources, source], self.config)
        return Anonymiser([source if s.name == source.name else s for s in self.sources], self.config)

    def find(self, rgb: np.ndarray) -> list[Region]:
        h, w = rgb.shape[:2]
        tiling = max(w, h) >= self.config.tile_min_side
        regions = []
        for source in self.sources:
            params = DetectParams(conf=self.config.conf, iou=source.iou, max_det=source.max_det, tiling=tiling)
            found = source.detector.detect(rgb, params)
            for box, score, name in zip(found.xyxy, found.confidence, found.class_name, strict=True):
                if name in source.obscured:
                    regions.append(
                        Region(source.name, name, round(float(score), 4), widen(box, self.config.margin, w, h))
                    )
        return [r for r in regions if r.box[2] > r.box[0] and r.box[3] > r.box[1]]

    def anonymise(self, rgb: np.ndarray) -> Anonymised:
        regions = self.find(rgb)
        return Anonymised(obscure(rgb, regions, self.config), regions)

    def mask(self, shape: tuple[int, ...], regions: list[Region]) -> np.ndarray:
        """The pixels `obscure` replaces for these regions (what the recall measurement counts)."""
        mask = np.zeros(shape[:2], bool)
        for region in regions:
            x1, y1, x2, y2 = region.box
            mask[y1:y2, x1:x2] |= _shape_mask(region, self.config)
        return mask


def widen(xyxy: np.ndarray, margin: float, width: int, height: int) -> tuple[int, int, int, int]:
    """The box grown by `margin` of its size on each side, rounded outwards, clipped to the image."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    return (
        max(int(np.floor(x1 - mx)), 0),
        max(int(np.floor(y1 - my)), 0),
        min(int(np.ceil(x2 + mx)), width),
        min(int(np.ceil(y2 + my)), height),
    )


def obscure(rgb: np.ndarray, regions: list[Region], config: AnonymiseConfig) -> np.ndarray:
    """A copy of `rgb` with every region blurred or pixelated beyond recognition."""
    out = rgb.copy()
    for region in regions:
        x1, y1, x2, y2 = region.box
        patch = out[y1:y2, x1:x2]
        hidden = _pixelate(patch) if config.mode == "pixelate" else _blur(patch)
        inside = _shape_mask(region, config)
        patch[inside] = hidden[inside]
    return out


def _shape_mask(region: Region, config: AnonymiseConfig) -> np.ndarray:
    x1, y1, x2, y2 = region.box
    h, w = y2 - y1, x2 - x1
    if not (config.ellipse_faces and region.class_name == FACE):
        return np.ones((h, w), bool)
    ellipse = np.zeros((h, w), np.uint8)
    cv2.ellipse(ellipse, ((w / 2, h / 2), (w, h), 0), 1, thickness=-1)
    return ellipse.astype(bool)


def _coarse(patch: np.ndarray) -> np.ndarray:
    """The patch reduced to DETAIL samples across its longer side: the detail is gone, not hidden."""
    h, w = patch.shape[:2]
    scale = DETAIL / max(h, w)
    return cv2.resize(patch, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _pixelate(patch: np.ndarray) -> np.ndarray:
    h, w = patch.shape[:2]
    return cv2.resize(_coarse(patch), (w, h), interpolation=cv2.INTER_NEAREST)


def _blur(patch: np.ndarray) -> np.ndarray:
    """Coarse samples smoothed by a Gaussian scaled to the region (σ = ⅛ of its longer side): no blocks show."""
    h, w = patch.shape[:2]
    smooth = cv2.resize(_coarse(patch), (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.GaussianBlur(smooth, (0, 0), sigmaX=max(h, w) / DETAIL, borderType=cv2.BORDER_REPLICATE)
