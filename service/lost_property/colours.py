"""Dominant colours of an item as named colours from a fixed palette (German and English).

The item's pixels (its box less a border margin, where background creeps in) are reduced to at
most 64 × 64, clustered with k-means in CIE Lab (perceptually even distances) and each cluster
centre is named by the nearest palette colour (ΔE 1976). Deterministic: the clusters start from
lightness quantiles rather than a random seed, so the same pixels always give the same names.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class PaletteColour:
    key: str  # the German name without umlauts, e.g. gruen
    label_de: str
    label_en: str
    rgb: tuple[int, int, int]  # the sRGB reference the Lab distance is measured to


PALETTE: tuple[PaletteColour, ...] = (
    PaletteColour("schwarz", "schwarz", "black", (20, 20, 20)),
    PaletteColour("weiss", "weiß", "white", (245, 245, 245)),
    PaletteColour("grau", "grau", "grey", (128, 128, 128)),
    PaletteColour("silber", "silber", "silver", (192, 192, 192)),
    PaletteColour("rot", "rot", "red", (200, 30, 30)),
    PaletteColour("orange", "orange", "orange", (240, 130, 30)),
    PaletteColour("gelb", "gelb", "yellow", (240, 220, 40)),
    PaletteColour("gruen", "grün", "green", (40, 150, 60)),
    PaletteColour("blau", "blau", "blue", (30, 70, 180)),
    PaletteColour("violett", "violett", "purple", (120, 50, 160)),
    PaletteColour("pink", "pink", "pink", (240, 120, 180)),
    PaletteColour("braun", "braun", "brown", (110, 70, 40)),
    PaletteColour("beige", "beige", "beige", (220, 200, 160)),
)
COLOURS = {c.key: c for c in PALETTE}

CLUSTERS = 3
MIN_SHARE = 0.2  # a colour covering less of the item is not named
MARGIN = 0.1  # share of the box's width/height ignored on each side
_SIDE = 64


def _lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8 (..., 3) -> Lab float32 (L 0..100)."""
    return cv2.cvtColor(rgb.reshape(-1, 1, 3).astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab).reshape(-1, 3)


_PALETTE_LAB = _lab(np.array([c.rgb for c in PALETTE], np.uint8))


@dataclass(frozen=True)
class ColourShare:
    colour: PaletteColour
    share: float  # of the item's (inner) pixels


def item_pixels(image_rgb: np.ndarray, box: tuple[float, float, float, float], margin: float = MARGIN) -> np.ndarray:
    """The box less `margin` on each side, as an RGB array (at least one pixel)."""
    h, w = image_rgb.shape[:2]
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
    left, top = int(np.clip(x1 + dx, 0, w - 1)), int(np.clip(y1 + dy, 0, h - 1))
    right, bottom = int(np.clip(np.ceil(x2 - dx), left + 1, w)), int(np.clip(np.ceil(y2 - dy), top + 1, h))
    return image_rgb[top:bottom, left:right]


def dominant_colours(pixels_rgb: np.ndarray) -> list[ColourShare]:
    """Named colours covering at least MIN_SHARE of the pixels, largest share first (never empty)."""
    h, w = pixels_rgb.shape[:2]
    scale = min(1.0, _SIDE / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        pixels_rgb = cv2.resize(pixels_rgb, size, interpolation=cv2.INTER_AREA)
    lab = _lab(np.ascontiguousarray(pixels_rgb))
    k = min(CLUSTERS, len(lab))
    order = np.argsort(lab[:, 0], kind="stable")  # initial clusters: lightness quantiles
    labels = np.empty((len(lab), 1), np.int32)
    labels[order, 0] = np.arange(len(lab)) * k // len(lab)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    _, labels, centres = cv2.kmeans(lab, k, labels, criteria, 1, cv2.KMEANS_USE_INITIAL_LABELS)
    counts = np.bincount(labels.ravel(), minlength=k) / len(lab)
    nearest = np.linalg.norm(centres[:, None, :] - _PALETTE_LAB[None], axis=2).argmin(axis=1)
    shares: dict[int, float] = {}
    for index, share in zip(nearest, counts, strict=True):
        shares[int(index)] = shares.get(int(index), 0.0) + float(share)
    ranked = sorted(shares.items(), key=lambda kv: (-kv[1], kv[0]))
    named = [ColourShare(PALETTE[i], round(s, 3)) for i, s in ranked if s >= MIN_SHARE]
    return named or [ColourShare(PALETTE[ranked[0][0]], round(ranked[0][1], 3))]
