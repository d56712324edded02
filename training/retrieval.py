"""Does a citizen's photo of a lost item find the registered item? Top-1 / top-5 hit rates.

The register (the gallery) holds one crop per labelled item of a dataset split, cut at its
labelled box, as the desk cuts the detected box. Two kinds of query, each reported alone:

* **another photo, real**: frames of a recording where one person holds one object (the
  shared set's webcam frames of a wallet, an earbuds case and a phone). Only the first frame
  of each object is registered; each later frame is a query, and a hit is the same object.
* **another photo, simulated**: every other registered item photographed again, simulated by
  a seeded change of viewpoint (rotation, scale, perspective), light (brightness, contrast,
  colour temperature), focus, JPEG quality and a looser or tighter box (a detector's box is
  not the label's).

Each embedder (the detector's own embedding model, and the colour/shape descriptor used when
there is none) ranks the whole register by cosine similarity for every query.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from service.lost_property.embedding import Embedder
from training.datasets.layout import load_yolo_dataset
from training.evaluate import read_labels
from training.export import read_rgb
from training.modelcard import percent

MIN_SIDE = 24  # px: smaller labelled items are not photographed at a desk
RECORDING = r"^rfwallet_frame\d+$"  # file stems of the shared set's webcam recordings


@dataclass
class Item:
    identity: str
    crop: np.ndarray
    query_of: str | None = None  # the identity a query should find; None for register entries


@dataclass
class HitRates:
    queries: int = 0
    top1: int = 0
    top5: int = 0

    def add(self, rank: int) -> None:
        self.queries += 1
        self.top1 += rank < 1
        self.top5 += rank < 5

    def rates(self) -> dict[str, float | int | None]:
        q = self.queries
        return {"queries": q, "top1": self.top1 / q if q else None, "top5": self.top5 / q if q else None}


@dataclass
class RetrievalResult:
    embedder: str
    register_size: int
    real: dict = field(default_factory=dict)
    simulated: dict = field(default_factory=dict)


def another_photo(image: np.ndarray, box: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The item in `box` as a second, different photo of it would show it (seeded)."""
    h, w = image.shape[:2]
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    matrix = cv2.getRotationMatrix2D((float(cx), float(cy)), rng.uniform(-20, 20), rng.uniform(0.7, 1.3))
    warp = np.vstack([matrix, [0, 0, 1]])
    warp[2, :2] = rng.uniform(-2e-4, 2e-4, 2)
    out = cv2.warpPerspective(image, warp, (w, h), borderMode=cv2.BORDER_REFLECT)
    corners = np.array([[box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]]], np.float32)
    moved = cv2.perspectiveTransform(corners[None], warp)[0]
    x1, y1 = moved.min(0)
    x2, y2 = moved.max(0)
    bw, bh = x2 - x1, y2 - y1
    x1, x2 = x1 + rng.uniform(-0.1, 0.1) * bw, x2 + rng.uniform(-0.1, 0.1) * bw
    y1, y2 = y1 + rng.uniform(-0.1, 0.1) * bh, y2 + rng.uniform(-0.1, 0.1) * bh
    out = out.astype(np.float32) * rng.uniform(0.7, 1.3) + rng.uniform(-25, 25)
    out *= np.array([1 + rng.uniform(-0.1, 0.1), 1.0, 1 + rng.uniform(-0.1, 0.1)], np.float32)  # colour temperature
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.5))
    _, jpeg = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(50, 90))])
    out = cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED)
    return _crop(out, np.array([x1, y1, x2, y2]))


def _crop(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    x1, y1 = int(np.clip(box[0], 0, w - 1)), int(np.clip(box[1], 0, h - 1))
    x2, y2 = int(np.clip(box[2], x1 + 1, w)), int(np.clip(box[3], y1 + 1, h))
    return np.ascontiguousarray(image[y1:y2, x1:x2])


def collect_items(data_yaml: Path, split: str, seed: int = 0) -> list[Item]:
    """Register entries and queries of one split (see the module docstring)."""
    ds = load_yolo_dataset(data_yaml)
    rng = np.random.default_rng(seed)
    items: list[Item] = []
    registered: set[str] = set()
    for path in sorted(ds.splits.get(split, [])):
        image = read_rgb(path)
        boxes, classes = read_labels(path, image.shape[1], image.shape[0])
        recording = re.match(RECORDING, path.stem) is not None
        for k, (box, c) in enumerate(zip(boxes, classes, strict=True)):
            if min(box[2] - box[0], box[3] - box[1]) < MIN_SIDE:
                continue
            if recording:  # one object per class in the recordings: its first frame registers it
                identity = f"recording:{ds.names[int(c)]}"
                first = identity not in registered
                registered.add(identity)
                items.append(Item(identity, _crop(image, box), None if first else identity))
            else:
                identity = f"{path.stem}#{k}"
                items.append(Item(identity, _crop(image, box)))
                items.append(Item(f"{identity}@view", another_photo(image, box, rng), identity))
    return items


def measure(embedder: Embedder, items: list[Item]) -> RetrievalResult:
    register = [i for i in items if i.query_of is None]
    gallery = np.stack([embedder.embed(i.crop) for i in register])
    identities = np.array([i.identity for i in register])
    real, simulated = HitRates(), HitRates()
    for query in (i for i in items if i.query_of is not None):
        order = np.argsort(-(gallery @ embedder.embed(query.crop)), kind="stable")
        rank = int(np.flatnonzero(identities[order] == query.query_of)[0])
        (real if query.query_of.startswith("recording:") else simulated).add(rank)
    return RetrievalResult(embedder.kind, len(register), real.rates(), simulated.rates())


def measure_all(embedders: Iterable[Embedder], items: list[Item], progress: Callable = iter) -> list[RetrievalResult]:
    return [measure(e, items) for e in progress(list(embedders))]


def write_report(results: list[RetrievalResult], data_yaml: Path, split: str, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    payload = {"data": str(data_yaml), "split": split, "results": [asdict(r) for r in results]}
    (out / "retrieval.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")

    rows = "\n".join(
        f"| `{r.embedder}` | {r.register_size} | "
        + " | ".join(f"{q['queries']} | {percent(q['top1'])} | {percent(q['top5'])}" for q in (r.real, r.simulated))
        + " |"
        for r in results
    )
    md = out / "retrieval.md"
    md.write_text(
        f"# Lost-property retrieval on `{split}`\n\n"
        "Register: one crop per labelled item; queries: another photo of a registered item "
        "(see `training/retrieval.py`).\n\n"
        "| embedder | register | real queries | real top-1 | real top-5 | simulated queries "
        "| simulated top-1 | simulated top-5 |\n|---|---|---|---|---|---|---|---|\n" + rows + "\n",
        encoding="utf-8",
    )
    return md
