"""Sliced (tiled) inference for frames much larger than the model input.

A 1920x1080 dash-cam frame letterboxed into 512 px shrinks a pothole 40 m ahead to a few
pixels. Running the model on overlapping tiles as well as on the whole frame keeps small,
far objects visible; the full-frame pass still catches objects larger than a tile. Boxes are
merged across tiles by suppressing same-class boxes that mostly lie inside a better one
(intersection over the smaller box), which also joins objects cut by a tile border.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from service.inference.detections import Detections


@dataclass(frozen=True)
class TilingConfig:
    tile_size: int = 960  # tile side in original pixels
    overlap: float = 0.2  # share of a tile repeated in its neighbour
    min_image_side: int = 1600  # smaller images are not tiled
    merge_threshold: float = 0.6  # intersection over the smaller box that merges two boxes
    max_tiles: int = 24  # more would be needed: the tiles grow instead (bounds the work per image)

    def applies_to(self, width: int, height: int) -> bool:
        return max(width, height) >= self.min_image_side


def tile_windows(
    width: int, height: int, tile: int, overlap: float, max_tiles: int | None = None
) -> list[tuple[int, int, int, int]]:
    """Windows (x1, y1, x2, y2) covering the image; edge tiles are shifted inwards, never cropped.

    With `max_tiles`, tiles larger than `tile` are used where that many would not cover the image,
    so the cost of an image is bounded whatever its size and shape.
    """

    def starts(length: int, side: int) -> list[int]:
        if length <= side:
            return [0]
        step = max(1, int(side * (1 - overlap)))
        count = int(np.ceil((length - side) / step)) + 1
        return sorted({min(i * step, length - side) for i in range(count)})

    while max_tiles and len(starts(width, tile)) * len(starts(height, tile)) > max_tiles:
        tile = int(np.ceil(tile * 1.25))
    tw, th = min(tile, width), min(tile, height)
    return [(x, y, x + tw, y + th) for y in starts(height, tile) for x in starts(width, tile)]


def detect_tiled(detect: Callable[[np.ndarray], Detections], image: np.ndarray, config: TilingConfig) -> Detections:
    """Run `detect` on the whole image and on each tile, then merge into one set of boxes."""
    h, w = image.shape[:2]
    parts = [detect(image)]
    for x1, y1, x2, y2 in tile_windows(w, h, config.tile_size, config.overlap, config.max_tiles):
        found = detect(image[y1:y2, x1:x2])
        parts.append(Detections(found.xyxy + np.array([x1, y1, x1, y1], np.float32), found.confidence, found.class_id))
    return merge_overlapping(Detections.merge(parts), config.merge_threshold)


def merge_overlapping(dets: Detections, threshold: float) -> Detections:
    """Greedy suppression by intersection-over-smaller, per class, best confidence first."""
    if len(dets) < 2:
        return dets
    order = np.argsort(-dets.confidence, kind="stable")
    boxes, classes = dets.xyxy[order], dets.class_id[order]
    areas = np.maximum(dets.area()[order], 1e-6)
    suppressed = np.zeros(len(order), bool)
    for i in range(len(order)):
        if suppressed[i]:
            continue
        rest = np.arange(i + 1, len(order))
        rest = rest[~suppressed[rest] & (classes[rest] == classes[i])]
        if not len(rest):
            continue
        lt = np.maximum(boxes[i, :2], boxes[rest, :2])
        rb = np.minimum(boxes[i, 2:], boxes[rest, 2:])
        inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
        ios = inter / np.minimum(areas[i], areas[rest])
        suppressed[rest[ios > threshold]] = True
    return dets[order[~suppressed]]
