"""Image embeddings of found items, for matching a citizen's photo against the register (no torch).

Two extractors, both giving an L2-normalised float32 vector of the item's crop, so similarity
is a dot product; a vector is only compared with vectors of the same `kind`:

* `OnnxEmbedder`: the model the detector's card names as `embedding` (written by
  `training/export_embedding.py`: the detector's backbone maps, GeM-pooled and normalised; the
  crop letterboxed to the card's input size), joined with equal weight to the colour/shape
  descriptor below: the network knows what the object is, the descriptor its colours, and
  together they found the same item again most often (docs/lost_property.md).
* `ColourShapeDescriptor` (kind `hsv-hog-v1`), alone when no such model is installed: an HSV colour
  histogram (8 hue × 4 saturation × 4 value bins, square-rooted: the Hellinger kernel) and a
  HOG descriptor of the 64 × 64 grey crop (Sobel gradients, 8 px cells, 9 unsigned
  orientations, 2 × 2-cell blocks L2-normalised; OpenCV 5 dropped its HOGDescriptor),
  each L2-normalised, weighted 0.6 / 0.4 and normalised again. Crude, but it tells a black
  umbrella from a red bag and survives moderate changes of scale, position and light.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from service.inference.detector import static_hw
from service.inference.preprocess import letterbox, to_tensor
from service.inference.session import SessionConfig, create_session
from service.registry.card import ModelCard, sha256_file

_SIDE = 64
_CELL, _BINS = 8, 9
_COLOUR_WEIGHT = 0.6


class Embedder(Protocol):
    kind: str

    def embed(self, crop_rgb: np.ndarray) -> np.ndarray:
        """An L2-normalised float32 vector of an RGB crop."""


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = vector.astype(np.float32).ravel()
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


@dataclass(frozen=True)
class ColourShapeDescriptor:
    kind: str = "hsv-hog-v1"

    def embed(self, crop_rgb: np.ndarray) -> np.ndarray:
        small = cv2.resize(np.ascontiguousarray(crop_rgb), (_SIDE, _SIDE), interpolation=cv2.INTER_AREA)
        hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1, 2], None, [8, 4, 4], [0, 180, 0, 256, 0, 256]).ravel()
        colour = _unit(np.sqrt(hist / max(hist.sum(), 1.0)))
        shape = _unit(hog(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)))
        return _unit(np.concatenate([colour * _COLOUR_WEIGHT, shape * (1 - _COLOUR_WEIGHT)]))


def hog(grey: np.ndarray) -> np.ndarray:
    """Histograms of oriented gradients of a grey image whose sides are multiples of 8 (Dalal-Triggs)."""
    g = grey.astype(np.float32)
    gx, gy = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=1), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=1)
    magnitude = np.hypot(gx, gy)
    bins = (np.mod(np.arctan2(gy, gx), np.pi) / np.pi * _BINS).astype(np.int32) % _BINS
    ch, cw = g.shape[0] // _CELL, g.shape[1] // _CELL
    cell_of = (np.arange(g.shape[0])[:, None] // _CELL) * cw + np.arange(g.shape[1])[None, :] // _CELL
    cells = np.bincount((cell_of * _BINS + bins).ravel(), magnitude.ravel(), ch * cw * _BINS).reshape(ch, cw, _BINS)
    blocks = np.concatenate([cells[:-1, :-1], cells[1:, :-1], cells[:-1, 1:], cells[1:, 1:]], axis=2)
    blocks /= np.linalg.norm(blocks, axis=2, keepdims=True) + 1e-6
    return blocks.ravel()


class OnnxEmbedder:
    """Pooled detector features from `<detector folder>/<card.embedding.path>`, plus the descriptor."""

    def __init__(self, path: Path, card: ModelCard, config: SessionConfig | None = None):
        self.session = create_session(path, config or SessionConfig())
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        # its own size: a composed detector (`train compose`) may run at another size than the
        # network the embedding was cut from
        self.input_size = static_hw(inp.shape) or tuple(card.input_size)
        self.descriptor = ColourShapeDescriptor()
        self.kind = f"onnx+{self.descriptor.kind}:{card.name}:{card.version}"

    def features(self, crop_rgb: np.ndarray) -> np.ndarray:
        """The network's part of the embedding (unit length)."""
        padded, _ = letterbox(np.ascontiguousarray(crop_rgb), self.input_size)
        (features,) = self.session.run(None, {self.input_name: to_tensor(padded)})
        return _unit(features[0])

    def embed(self, crop_rgb: np.ndarray) -> np.ndarray:
        return _unit(np.concatenate([self.features(crop_rgb), self.descriptor.embed(crop_rgb)]))


def embedder_for(folder: Path | None, card: ModelCard | None, config: SessionConfig | None = None) -> Embedder:
    """The detector folder's embedding model if its card lists one that is intact, else the descriptor."""
    entry = card.embedding if card else None
    if folder is None or card is None or entry is None:
        return ColourShapeDescriptor()
    path = folder / entry.path
    if not path.is_file() or sha256_file(path) != entry.sha256:
        raise ValueError(f"{path}: embedding model missing or not the one in the model card")
    return OnnxEmbedder(path, card, config)
