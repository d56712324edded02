"""Training set for road damage seen from a vehicle: held-out source, road-plane views, hard negatives.

`python -m training.road_views --src ../shared/datasets/road_damage --out work/data/road_views`

The shipped detector learnt from web photos taken close to the ground and fails on dash-cam
frames, where potholes are small, flat ellipses far ahead and the shadow under a parked car is
the darkest thing on the road. This builder writes a YOLO dataset whose

* train split = the real train split without the held-out source (`jero/dashcam` by default, so it
  can be the test source of a leave-one-source-out evaluation), plus
  - **road-plane views**: a pothole crop of a web photo laid on the ground plane and rendered by a
    pinhole camera 1.2-2 m high looking ahead (a homography; boxes transformed through the same
    homography as the ellipse inscribed in each box), on a larger canvas with synthetic or real
    asphalt around it, lane markings, patches, manholes, tar joints, wet patches, parked cars and
    their shadows; the same renderer without the pothole crop gives negative views, so the
    compositing itself never tells pothole from road;
  - **hard negatives** as empty-label images: whole street photos from pothole-free datasets
    (graffiti, anonymize), crops below the licence plate of cars (bumper, underside, shadow) and
    pothole-free asphalt crops of the road photos;
* val split = the real val split without the held-out source (early stopping must not see it).

Needs only NumPy, OpenCV, PyYAML and the standard library (it runs on the GPU box before training).
Everything is drawn from `random.Random(seed + index)`, so a build is reproducible.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import shutil
import sys
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np
import yaml

from training.corruptions import maybe_corrupt
from training.datasets.layout import IMAGE_SUFFIXES, is_image, label_path_for, read_names, read_yolo_label

HELD_OUT = ("jero/dashcam",)
NEGATIVE_DATASETS = ("graffiti", "anonymize")
PLATE_CLASS = "licence_plate"
BUILD_REPORT = "build.json"  # beside data.yaml: what was held out (read by `stadtblick train loso`)
POTHOLE = 0
JPEG_QUALITY = 90
MIN_BOX_PX = (6.0, 4.0)  # width, height: smaller rendered potholes are not labelled (and not drawn)


@dataclass(frozen=True)
class Photo:
    """A photo and its boxes of one class (normalised xc, yc, w, h, so a resized copy still fits)."""

    image: Path
    boxes: tuple[tuple[float, float, float, float], ...]

    def read(self) -> tuple[np.ndarray | None, list[tuple[float, float, float, float]]]:
        """The image (BGR) and its boxes in pixels (x1, y1, x2, y2)."""
        image = cv2.imread(str(self.image))
        if image is None:
            return None, []
        h, w = image.shape[:2]
        return image, [
            ((x - bw / 2) * w, (y - bh / 2) * h, (x + bw / 2) * w, (y + bh / 2) * h) for x, y, bw, bh in self.boxes
        ]


@dataclass(frozen=True)
class Task:
    """One generated train image: what kind, its index (seed) and where to write it."""

    kind: str  # view | negview | street | under | asphalt
    index: int
    out_image: Path
    corrupt_share: float = 0.0  # chance of one street condition (`training.corruptions`) on the image


@dataclass
class Pools:
    """What the generators draw from (shared read-only with the worker processes)."""

    roads: list[Photo]  # potholes
    plates: list[Photo]  # licence plates
    streets: list[Path]
    scenery: list[Path]
    seed: int


@dataclass
class BuildReport:
    out: str
    held_out: list[str]
    real: dict[str, int]
    generated: dict[str, int]
    pothole_boxes: dict[str, int]
    seconds: float
    notes: list[str] = field(default_factory=list)
    near_duplicates: dict | None = None  # held-out vs training images, when checked
    view_box_aspect: dict | None = None  # pothole box height/width in pixels on the views
    repeated: dict[str, dict[str, int]] = field(default_factory=dict)  # class -> times, train images
    corrupt_share: float = 0.0  # of the generated images, in one street condition each

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2)


# ----------------------------------------------------------------------------- reading sources


def read_manifest(src: Path) -> list[dict[str, str]]:
    """Rows of `manifest.csv`: file_stem, split, source, ..."""
    with (src / "manifest.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _image_of(src: Path, split: str, stem: str) -> Path:
    folder = src / "images" / split
    for suffix in sorted(IMAGE_SUFFIXES):  # the shared photos, or re-encoded copies of them
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    raise FileNotFoundError(f"no image for {stem} in {folder}")


def _images(folder: Path) -> list[Path]:
    """The photos of a split folder: the shared JPEGs or re-encoded copies of them."""
    return sorted(p for p in folder.iterdir() if is_image(p))


def _photos(folder: Path, cls: int) -> list[Photo]:
    """Photos of `folder` (images/train) with at least one box of class `cls`."""
    out = []
    for image in _images(folder):
        ids, rows = read_yolo_label(image)
        rows = rows[ids == cls]
        if len(rows):
            out.append(Photo(image, tuple(tuple(r) for r in rows.tolist())))
    return out


def class_names(root: Path) -> list[str]:
    """The class names of the YOLO dataset at `root`, by id."""
    return read_names(yaml.safe_load((root / "data.yaml").read_text(encoding="utf-8")) or {})


def _plates(root: Path) -> list[Photo]:
    names = class_names(root)
    if PLATE_CLASS not in names:
        return []
    return _photos(root / "images" / "train", names.index(PLATE_CLASS))


def load_pools(src: Path, negatives: list[Path], held_out: tuple[str, ...], seed: int) -> Pools:
    """Road photos with potholes (train split, held-out sources excluded), plate photos, street photos."""
    kept = {r["file_stem"] for r in read_manifest(src) if r["split"] == "train" and r["source"] not in held_out}
    roads = [p for p in _photos(src / "images" / "train", POTHOLE) if p.image.stem in kept]
    plates: list[Photo] = []
    streets: list[Path] = []
    scenery: list[Path] = []
    for root in negatives:
        found = _plates(root)
        plates.extend(found)
        photos = _images(root / "images" / "train")
        streets.extend(photos)
        if not found:  # close-ups of cars make poor scenery: cars are parked at their scale instead
            scenery.extend(photos)
    return Pools(roads, plates, streets, scenery or streets, seed)


# ----------------------------------------------------------------------------- camera geometry


@dataclass(frozen=True)
class Camera:
    """Pinhole camera `height` m above a flat road, pitched down by `pitch` rad, image `width` x `rows`."""

    width: int
    rows: int
    focal: float
    height: float
    pitch: float

    @property
    def ground_to_image(self) -> np.ndarray:
        """Homography from road-plane (X right, Z ahead, 1) in metres to pixel (u, v, 1)."""
        f, h, c, s = self.focal, self.height, math.cos(self.pitch), math.sin(self.pitch)
        cx, cy = self.width / 2, self.rows / 2
        return np.array([[f, cx * c, cx * h * s], [0.0, cy * c - f * s, cy * h * s + f * h * c], [0.0, c, h * s]])

    @property
    def horizon(self) -> float:
        return self.rows / 2 - self.focal * math.tan(self.pitch)

    def row_of(self, z: float) -> float:
        p = self.ground_to_image @ np.array([0.0, z, 1.0])
        return float(p[1] / p[2])

    def pixels_per_metre(self, z: float) -> float:
        """Horizontal scale at distance `z` ahead."""
        return self.focal / (z * math.cos(self.pitch) + self.height * math.sin(self.pitch))


def random_camera(rng: random.Random) -> Camera:
    """A dash-cam: 16:9 or 4:3 frame, 1.2-2 m high, pitched 2-10 degrees down, 70-110 degrees wide."""
    width = 1024
    rows = rng.choice((576, 576, 768))
    hfov = math.radians(rng.uniform(70, 110))
    return Camera(width, rows, width / 2 / math.tan(hfov / 2), rng.uniform(1.2, 2.0), math.radians(rng.uniform(2, 10)))


def _affine_to_ground(x0: float, z0: float, metres_per_px_x: float, metres_per_px_z: float, rows: int) -> np.ndarray:
    """Pixel (u, v) of a top-down picture -> ground (X, Z): left edge at x0, bottom row at z0 (near)."""
    return np.array([[metres_per_px_x, 0.0, x0], [0.0, -metres_per_px_z, z0 + rows * metres_per_px_z], [0, 0, 1]])


def _project(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.c_[pts, np.ones(len(pts))] @ h.T
    return p[:, :2] / p[:, 2:3]


def _ellipse_points(box: tuple[float, float, float, float], n: int = 24) -> np.ndarray:
    x1, y1, x2, y2 = box
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.c_[(x1 + x2) / 2 + (x2 - x1) / 2 * np.cos(t), (y1 + y2) / 2 + (y2 - y1) / 2 * np.sin(t)]


# ----------------------------------------------------------------------------- textures and distractors

GROUND_PPM = 40  # ground texture resolution, pixels per metre
GROUND_X = (-8.0, 8.0)
GROUND_Z = (0.8, 100.0)  # from below the bonnet to near the horizon


def _noise(rng: np.random.Generator, shape: tuple[int, int], scale: int) -> np.ndarray:
    small = rng.standard_normal((max(2, shape[0] // scale), max(2, shape[1] // scale))).astype(np.float32)
    return cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def synthetic_asphalt(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Grey asphalt: multi-scale noise around a random tone with a slight colour cast (BGR uint8)."""
    tone = rng.uniform(70, 150)
    grey = tone + 14 * _noise(rng, shape, 120) + 7 * _noise(rng, shape, 12) + 6 * rng.standard_normal(shape)
    cast = rng.uniform(-6, 6, 3)
    return np.clip(grey[..., None] + cast, 0, 255).astype(np.uint8)


def _asphalt_crop(rng: random.Random, pools: Pools) -> np.ndarray | None:
    """A pothole-free rectangle of a real road photo (boxes grown by 15 %), or None if none fits."""
    for _ in range(4):
        image, boxes = rng.choice(pools.roads).read()
        if image is None:
            continue
        h, w = image.shape[:2]
        for _ in range(25):
            cw, ch = int(w * rng.uniform(0.25, 0.6)), int(h * rng.uniform(0.2, 0.5))
            x, y = rng.randint(0, w - cw), rng.randint(int(h * 0.3), h - ch)  # lower part: road, not sky
            clear = all(
                x + cw < bx1 - 0.15 * (bx2 - bx1)
                or x > bx2 + 0.15 * (bx2 - bx1)
                or y + ch < by1 - 0.15 * (by2 - by1)
                or y > by2 + 0.15 * (by2 - by1)
                for bx1, by1, bx2, by2 in boxes
            )
            if clear and min(cw, ch) >= 48:
                return image[y : y + ch, x : x + cw].copy()
    return None


def _tile(patch: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Mirror-tile a patch over `shape` (rows, cols)."""
    flipped = np.concatenate([patch, patch[:, ::-1]], axis=1)
    block = np.concatenate([flipped, flipped[::-1]], axis=0)
    reps = (shape[0] // block.shape[0] + 1, shape[1] // block.shape[1] + 1, 1)
    return np.tile(block, reps)[: shape[0], : shape[1]]


def _gx(x: float) -> int:
    return int((x - GROUND_X[0]) * GROUND_PPM)


def _gz(z: float) -> int:
    return int((GROUND_Z[1] - z) * GROUND_PPM)


def draw_markings(g: np.ndarray, rng: random.Random) -> None:
    """Lane lines: dashed centre line, solid edge lines, sometimes a zebra/stop bar; worn."""
    colour = (235, 235, 235) if rng.random() < 0.8 else (40, 190, 230)
    width = max(2, int(rng.uniform(0.10, 0.16) * GROUND_PPM))
    lane = rng.uniform(2.8, 3.6)
    centre = rng.uniform(-1.0, 1.0)
    dash, gap = rng.uniform(2, 4), rng.uniform(3, 8)
    z = GROUND_Z[0] - rng.uniform(0, dash + gap)
    while z < GROUND_Z[1]:
        cv2.line(g, (_gx(centre - lane / 2), _gz(z)), (_gx(centre - lane / 2), _gz(z + dash)), colour, width)
        z += dash + gap
    for edge in (centre - lane * 1.5, centre + lane / 2):
        if rng.random() < 0.6:
            cv2.line(g, (_gx(edge), _gz(GROUND_Z[0])), (_gx(edge), _gz(GROUND_Z[1])), colour, width)
    if rng.random() < 0.25:
        zs = rng.uniform(5, 20)
        for k in range(rng.randint(3, 7)):
            x = centre - lane / 2 + k * 0.9
            cv2.rectangle(g, (_gx(x), _gz(zs + 3)), (_gx(x + 0.5), _gz(zs)), colour, -1)


def draw_distractors(
    g: np.ndarray, rng: random.Random, nrng: np.random.Generator, ppm: float = GROUND_PPM
) -> list[str]:
    """Things the shipped model mistakes for potholes, drawn on a top-down ground texture (`ppm`
    pixels per metre) at random places; returns their kinds."""
    rows, cols = g.shape[:2]

    def spot() -> tuple[int, int]:
        return rng.randrange(cols), rng.randrange(rows)

    def m(lo: float, hi: float) -> int:
        return max(1, int(rng.uniform(lo, hi) * ppm))

    drawn = []
    for _ in range(rng.randint(0, 3)):  # patches: resurfaced quadrilaterals with a dark seal edge
        (x, y), pw, pl = spot(), m(0.5, 3), m(0.5, 4)
        pts = np.array([[x, y], [x + pw, y], [x + pw, y + pl], [x, y + pl]]) + nrng.integers(-8, 9, (4, 2))
        mask = np.zeros((rows, cols), np.uint8)
        cv2.fillPoly(mask, [pts.astype(np.int32)], 255)
        g[mask > 0] = np.clip(g[mask > 0].astype(np.int16) + int(rng.uniform(-45, 25)), 0, 255).astype(np.uint8)
        cv2.polylines(g, [pts.astype(np.int32)], True, (25, 25, 25), m(0.02, 0.05))
        drawn.append("patch")
    if rng.random() < 0.45:  # manhole: metal disc, rim, concentric or grid pattern
        c, r, metal = spot(), m(0.28, 0.4), int(rng.uniform(35, 95))
        cv2.circle(g, c, r, (metal,) * 3, -1)
        step = max(3, r // 6)
        for k in range(-r + step, r, step):
            if rng.random() < 0.5 and k > 0:
                cv2.circle(g, c, k, (metal + 25,) * 3, 1)
            else:
                half = int(math.sqrt(max(0, r * r - k * k)))
                cv2.line(g, (c[0] + k, c[1] - half), (c[0] + k, c[1] + half), (metal + 25,) * 3, 1)
        cv2.circle(g, c, r, (metal + 40,) * 3, max(2, r // 8))
        drawn.append("manhole")
    for _ in range(rng.randint(1, 3) if rng.random() < 0.5 else 0):  # tar joints: sinuous sealed cracks
        drift = np.array([rng.uniform(-0.5, 0.5), 0.4])
        steps = np.cumsum(nrng.normal(0, 0.25, (rng.randint(6, 14), 2)) + drift, axis=0)
        pts = (np.array(spot()) + steps * ppm).astype(np.int32)
        cv2.polylines(g, [pts], False, (20, 20, 22), m(0.03, 0.07))
        drawn.append("tar_joint")
    if rng.random() < 0.3:  # wet asphalt: broad darker areas
        blob = (_noise(nrng, (rows, cols), max(4, int(5 * ppm))) > 0.3).astype(np.float32)
        blob = cv2.GaussianBlur(blob, (0, 0), 0.3 * ppm)
        g[:] = (g * (1 - 0.45 * blob[..., None])).astype(np.uint8)
        drawn.append("wet")
    if rng.random() < 0.3:  # soft shadows (trees, poles)
        mask = np.zeros((rows, cols), np.float32)
        cv2.ellipse(mask, spot(), (m(0.5, 2.5), m(0.5, 3)), rng.uniform(0, 180), 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), 0.2 * ppm)
        g[:] = (g * (1 - rng.uniform(0.3, 0.55) * mask[..., None])).astype(np.uint8)
        drawn.append("shadow")
    return drawn


def _car_crop(rng: random.Random, pools: Pools) -> np.ndarray | None:
    """A car around its licence plate: about 3.6 plate widths wide, roof to a bit below the bumper."""
    for _ in range(5):
        image, plates = rng.choice(pools.plates).read()
        if image is None:
            continue
        x1, y1, x2, y2 = rng.choice(plates)
        pw = x2 - x1
        if pw < 30:
            continue
        cx = (x1 + x2) / 2
        left, right = int(cx - 1.8 * pw), int(cx + 1.8 * pw)
        h, w = image.shape[:2]
        top, bottom = int(y1 - 2.3 * pw), int(min(h, y2 + 0.7 * pw))
        if left < -0.2 * pw or right > w + 0.2 * pw or top < -0.3 * (bottom - top) or bottom < y2 + 0.2 * pw:
            continue
        return image[max(0, top) : bottom, max(0, left) : right].copy()
    return None


def _paste(canvas: np.ndarray, patch: np.ndarray, x: int, y_bottom: int, width: int, feather: float = 0.06) -> None:
    """Paste `patch` scaled to `width` px with its bottom edge on row `y_bottom`, edges feathered."""
    scale = width / patch.shape[1]
    height = max(2, int(patch.shape[0] * scale))
    if width < 4:
        return
    patch = cv2.resize(patch, (width, height), interpolation=cv2.INTER_AREA)
    alpha = np.zeros((height, width), np.float32)
    m = max(1, int(feather * width))
    alpha[m : -m or None, m : -m or None] = 1
    alpha = cv2.GaussianBlur(alpha, (0, 0), m / 2 + 0.1)[..., None]
    x0, y0 = x - width // 2, y_bottom - height
    cx0, cy0 = max(0, x0), max(0, y0)
    cx1, cy1 = min(canvas.shape[1], x0 + width), min(canvas.shape[0], y0 + height)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    sub = (slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0))
    region = canvas[cy0:cy1, cx0:cx1].astype(np.float32)
    canvas[cy0:cy1, cx0:cx1] = (alpha[sub] * patch[sub] + (1 - alpha[sub]) * region).astype(np.uint8)


def _cover(image: np.ndarray, width: int, rows: int) -> np.ndarray:
    """Resize and centre-crop to fill width x rows."""
    h, w = image.shape[:2]
    s = max(width / w, rows / h)
    r = cv2.resize(image, (max(width, round(w * s)), max(rows, round(h * s))), interpolation=cv2.INTER_AREA)
    y, x = (r.shape[0] - rows) // 2, (r.shape[1] - width) // 2
    return r[y : y + rows, x : x + width]


def _warp_onto(canvas: np.ndarray, image: np.ndarray, h: np.ndarray, alpha: np.ndarray, match: float = 0.0) -> None:
    """Warp `image` by homography `h` onto the canvas; `match` pulls its mean colour that far
    towards the canvas under it (a pasted crop should not stand out as a lighter square)."""
    size = (canvas.shape[1], canvas.shape[0])
    warped = cv2.warpPerspective(image, h, size, flags=cv2.INTER_LINEAR).astype(np.float32)
    a = cv2.warpPerspective(alpha, h, size, flags=cv2.INTER_LINEAR)[..., None]
    inside = a[..., 0] > 0.5
    if match and inside.any():
        warped += match * (canvas[inside].mean(0) - warped[inside].mean(0))
    canvas[:] = np.clip(a * warped + (1 - a) * canvas, 0, 255).astype(np.uint8)


def _feather(rows: int, cols: int, fraction: float) -> np.ndarray:
    alpha = np.zeros((rows, cols), np.float32)
    m = max(1, int(fraction * min(rows, cols)))
    alpha[m:-m, m:-m] = 1
    return cv2.GaussianBlur(alpha, (0, 0), m / 2 + 0.1)


# ----------------------------------------------------------------------------- the renderer


def render_view(rng: random.Random, pools: Pools, with_pothole: bool) -> tuple[np.ndarray, list[tuple[float, ...]]]:
    """A dash-cam-like frame: street photo as scenery, a road plane ahead, optional pothole crop on it."""
    nrng = np.random.default_rng(rng.getrandbits(32))
    cam = random_camera(rng)
    canvas = _cover(cv2.imread(str(rng.choice(pools.scenery))), cam.width, cam.rows)
    # ground texture (top-down, far at the top) -> image
    gshape = (int((GROUND_Z[1] - GROUND_Z[0]) * GROUND_PPM), int((GROUND_X[1] - GROUND_X[0]) * GROUND_PPM))
    real = _asphalt_crop(rng, pools) if rng.random() < 0.2 else None
    ground = _tile(cv2.resize(real, None, fx=1.5, fy=1.5), gshape) if real is not None else None
    ground = synthetic_asphalt(nrng, gshape) if ground is None else ground
    draw_markings(ground, rng)
    draw_distractors(ground, rng, nrng)
    half_road = rng.uniform(3.5, 7.0)
    gh = cam.ground_to_image @ _affine_to_ground(GROUND_X[0], GROUND_Z[0], 1 / GROUND_PPM, 1 / GROUND_PPM, gshape[0])
    galpha = np.zeros(gshape, np.float32)
    galpha[:, max(0, _gx(-half_road)) : _gx(min(GROUND_X[1], half_road * rng.uniform(0.6, 1.0)))] = 1
    _warp_onto(canvas, ground, gh, cv2.GaussianBlur(galpha, (0, 0), 6))
    boxes: list[tuple[float, ...]] = []
    patch_z = rng.uniform(2.5, 9.0)
    patch_x = rng.uniform(-2.5, 1.5)
    if with_pothole:
        for _ in range(3):  # too far for any box of 6x4 px: come closer rather than draw it unlabelled
            trial = canvas.copy()
            boxes = _lay_pothole(trial, cam, rng, pools, patch_x, patch_z)
            if boxes:
                canvas = trial
                break
            patch_z = max(2.0, patch_z * 0.6)
    else:
        crop = _asphalt_crop(rng, pools)  # a pasted pothole-free crop: compositing is no pothole cue
        if crop is not None:
            metres = rng.uniform(1.0, 3.5)
            a = _affine_to_ground(patch_x, patch_z, metres / crop.shape[1], metres / crop.shape[1], crop.shape[0])
            _warp_onto(canvas, crop, cam.ground_to_image @ a, _feather(*crop.shape[:2], 0.08), rng.uniform(0.3, 0.8))
    if pools.plates and rng.random() < 0.5:
        _park_cars(canvas, cam, rng, pools)
    if rng.random() < 0.35:
        boxes = _dashboard(canvas, rng, boxes)
    return _photometric(canvas, rng, nrng), boxes


def _lay_pothole(
    canvas: np.ndarray, cam: Camera, rng: random.Random, pools: Pools, x0: float, z0: float
) -> list[tuple[float, ...]]:
    """Crop a road photo around its potholes and lay it flat at (x0, z0); return the transformed boxes."""
    image, pothole_boxes = rng.choice(pools.roads).read()
    if image is None:
        return []
    h, w = image.shape[:2]
    b = np.array(pothole_boxes)
    ux1, uy1, ux2, uy2 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
    mx, my = rng.uniform(0.15, 0.5) * (ux2 - ux1), rng.uniform(0.15, 0.5) * (uy2 - uy1)
    cx1, cy1 = int(max(0, ux1 - mx)), int(max(0, uy1 - my))
    cx2, cy2 = int(min(w, ux2 + mx)), int(min(h, uy2 + my))
    crop = image[cy1:cy2, cx1:cx2]
    metres = rng.uniform(1.2, 4.5)  # ground width the crop covers
    # Web photos are oblique already (taken standing, a few metres off): un-squash them before the
    # camera squashes them again. With 1-2 (version 1.3.0) the view boxes came out at a median
    # height/width of 0.18 px/px, the model learnt boxes 0.4x as tall as labelled dash-cam potholes.
    stretch = rng.uniform(2.0, 4.5)
    # shrink the crop first to about the size it will have on screen (warpPerspective does not filter)
    on_screen = metres * cam.pixels_per_metre(z0)
    scale = min(1.0, 1.5 * on_screen / crop.shape[1])
    crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else crop
    mpp = metres / crop.shape[1]
    a = _affine_to_ground(x0 - metres / 2, z0, mpp, mpp * stretch, crop.shape[0])
    hom = cam.ground_to_image @ a
    _warp_onto(canvas, crop, hom, _feather(*crop.shape[:2], 0.08), rng.uniform(0.3, 0.8))
    boxes = []
    for x1, y1, x2, y2 in pothole_boxes:
        local = ((x1 - cx1) * scale, (y1 - cy1) * scale, (x2 - cx1) * scale, (y2 - cy1) * scale)
        pts = _project(hom, _ellipse_points(local))
        bx1, by1 = pts.min(0)
        bx2, by2 = pts.max(0)
        clipped = (max(0, bx1), max(0, by1), min(cam.width, bx2), min(cam.rows, by2))
        area = (bx2 - bx1) * (by2 - by1)
        kept = max(0, clipped[2] - clipped[0]) * max(0, clipped[3] - clipped[1])
        big = clipped[2] - clipped[0] >= MIN_BOX_PX[0] and clipped[3] - clipped[1] >= MIN_BOX_PX[1]
        if area > 0 and kept / area >= 0.6 and big:
            boxes.append(clipped)
    return boxes


def _park_cars(canvas: np.ndarray, cam: Camera, rng: random.Random, pools: Pools) -> None:
    """Cars at the roadside or ahead, with the dark shadow beneath them drawn on the road first."""
    for _ in range(rng.randint(1, 3)):
        car = _car_crop(rng, pools)
        if car is None:
            return
        x, z = rng.choice((-1, 1)) * rng.uniform(2.0, 5.0), rng.uniform(6, 30)
        row = cam.row_of(z)
        u = cam.width / 2 + x * cam.pixels_per_metre(z)
        width = int(1.8 * cam.pixels_per_metre(z))
        shadow = np.zeros(canvas.shape[:2], np.float32)
        axes = (max(2, int(width * 0.55)), max(2, int(width * rng.uniform(0.06, 0.14))))
        cv2.ellipse(shadow, (int(u), int(row)), axes, 0, 0, 360, 1.0, -1)
        shadow = cv2.GaussianBlur(shadow, (0, 0), max(1.0, axes[1] / 2))
        canvas[:] = (canvas * (1 - rng.uniform(0.55, 0.8) * shadow[..., None])).astype(np.uint8)
        _paste(canvas, car, int(u), int(row - 0.05 * width), width)


def _dashboard(canvas: np.ndarray, rng: random.Random, boxes: list[tuple[float, ...]]) -> list[tuple[float, ...]]:
    """The car's dashboard in the bottom 10-22 % (an arc-topped dark band); drops boxes it hides."""
    rows, width = canvas.shape[:2]
    top = int(rows * (1 - rng.uniform(0.10, 0.22)))
    mask = np.zeros((rows, width), np.uint8)
    cv2.ellipse(mask, (width // 2, top + int(rows * 0.25)), (int(width * 0.8), int(rows * 0.25)), 0, 180, 360, 255, -1)
    mask[top + int(rows * 0.25) :] = 255
    tone = rng.randint(15, 55)
    canvas[mask > 0] = np.clip(
        tone + np.random.default_rng(rng.getrandbits(32)).normal(0, 4, (int((mask > 0).sum()), 3)), 0, 255
    ).astype(np.uint8)
    kept = []
    for x1, y1, x2, y2 in boxes:
        visible_bottom = min(y2, top)
        if visible_bottom - y1 >= max(MIN_BOX_PX[1], 0.6 * (y2 - y1)):
            kept.append((x1, y1, x2, visible_bottom))
    return kept


def _photometric(canvas: np.ndarray, rng: random.Random, nrng: np.random.Generator) -> np.ndarray:
    """Camera look: slight blur, sensor noise, contrast/brightness (HSV and flips are Ultralytics')."""
    if rng.random() < 0.4:
        canvas = cv2.GaussianBlur(canvas, (0, 0), rng.uniform(0.4, 1.2))
    out = canvas.astype(np.float32) * rng.uniform(0.8, 1.15) + rng.uniform(-15, 15)
    out += nrng.normal(0, rng.uniform(1, 5), out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- standalone negatives


def render_negative(kind: str, rng: random.Random, pools: Pools) -> np.ndarray | None:
    """street: a whole pothole-free street photo; under: below a licence plate; asphalt: a road crop."""
    nrng = np.random.default_rng(rng.getrandbits(32))
    if kind == "street":
        return cv2.imread(str(rng.choice(pools.streets)))
    if kind == "under":
        for _ in range(5):
            image, plates = rng.choice(pools.plates).read()
            if image is None:
                continue
            x1, y1, x2, _ = rng.choice(plates)
            h, w = image.shape[:2]
            pw = x2 - x1
            top, left, right = int(y1 - 0.6 * pw), int(max(0, x1 - 1.8 * pw)), int(min(w, x2 + 1.8 * pw))
            if top < 0 or h - top < 0.5 * pw or right - left < 64:
                continue
            return image[top:h, left:right].copy()
        return None
    crop = _asphalt_crop(rng, pools)
    if crop is None:
        return None
    if rng.random() < 0.6:  # distractors drawn on the real asphalt, which spans 1.5-4 m
        draw_distractors(crop, rng, nrng, crop.shape[1] / rng.uniform(1.5, 4.0))
    return crop


# ----------------------------------------------------------------------------- worker and build


_POOLS: Pools | None = None


def _init(pools: Pools) -> None:
    global _POOLS
    _POOLS = pools
    cv2.setNumThreads(1)


def _yolo_text(boxes: list[tuple[float, ...]], width: int, rows: int) -> str:
    rows_out = [
        ((x1 + x2) / 2 / width, (y1 + y2) / 2 / rows, (x2 - x1) / width, (y2 - y1) / rows) for x1, y1, x2, y2 in boxes
    ]
    return "".join(f"{POTHOLE} {xc:.6f} {yc:.6f} {w:.6f} {h:.6f}\n" for xc, yc, w, h in rows_out)


def run_task(task: Task) -> tuple[str, list[float], bool]:
    """Render one generated image and its label file; returns (kind, box height/width in pixels, written)."""
    pools = _POOLS
    assert pools is not None
    rng = random.Random(f"{pools.seed}:{task.kind}:{task.index}")
    if task.kind in ("view", "negview"):
        image, boxes = render_view(rng, pools, task.kind == "view")
    else:
        image, boxes = render_negative(task.kind, rng, pools), []
    if image is None or image.size == 0:
        return task.kind, [], False
    if task.corrupt_share:  # its own stream, drawn only when asked: builds without it stay the same
        crng = np.random.default_rng([pools.seed, zlib.crc32(task.kind.encode()), task.index])
        image, moved = maybe_corrupt(image, np.array(boxes, np.float64).reshape(-1, 4), crng, task.corrupt_share)
        boxes = [tuple(b) for b in moved.tolist() if b[2] > b[0] and b[3] > b[1]]  # out of frame: gone
    if max(image.shape[:2]) > 1024:
        s = 1024 / max(image.shape[:2])
        image = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(task.out_image), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    label_path_for(task.out_image).write_text(_yolo_text(boxes, image.shape[1], image.shape[0]), encoding="utf-8")
    return task.kind, [(y2 - y1) / (x2 - x1) for x1, y1, x2, y2 in boxes], True


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def copy_real(src: Path, out: Path, held_out: tuple[str, ...], leak: set[str] | None = None) -> Counter:
    """Real images and labels of both splits, held-out sources (and `leak`: near-duplicates of
    them) left out; counts per split/source."""
    counts: Counter = Counter()
    for row in read_manifest(src):
        if row["source"] in held_out:
            counts[f"{row['split']}:held_out:{row['source']}"] += 1
            continue
        if row["file_stem"] in (leak or set()):
            counts[f"{row['split']}:near_duplicate_of_held_out"] += 1
            continue
        image = _image_of(src, row["split"], row["file_stem"])
        dst = out / "images" / row["split"] / image.name
        _link(image, dst)
        label = label_path_for(image)
        if label.is_file():
            _link(label, label_path_for(dst))
        else:
            label_path_for(dst).write_text("", encoding="utf-8")
        counts[f"{row['split']}:{row['source']}"] += 1
    return counts


class BuildRequestError(ValueError):
    """A build asked for a class or source its dataset does not have."""


def held_out_near_duplicates(
    src: Path, negatives: list[Path], held_out: tuple[str, ...], max_distance: int
) -> dict[str, object]:
    """Held-out images that are near-duplicates (repo dHash, Pillow) of anything the builder trains
    on: the road photos of other sources and the negative datasets' train photos. Any pair found
    would leak the test source into training, so the builder drops its training side."""
    from training.datasets.hashing import dhash, near_duplicate_pairs

    rows = read_manifest(src)
    tested = [_image_of(src, r["split"], r["file_stem"]) for r in rows if r["source"] in held_out]
    trained = [_image_of(src, r["split"], r["file_stem"]) for r in rows if r["source"] not in held_out]
    trained += [p for n in negatives for p in _images(n / "images" / "train")]
    hashes = [dhash(p) for p in tested + trained]
    pairs = [(a, b) for a, b in near_duplicate_pairs(hashes, max_distance) if a < len(tested) <= b]
    closest = min(
        (
            int(np.bitwise_count(np.uint64(hashes[a]) ^ np.uint64(hashes[b])))
            for a in range(len(tested))
            for b in range(len(tested), len(hashes))
            if hashes[a] is not None and hashes[b] is not None
        ),
        default=None,
    )
    return {
        "max_distance": max_distance,
        "held_out_images": len(tested),
        "compared_with": len(trained),
        "pairs": [[tested[a].name, str(trained[b - len(tested)])] for a, b in pairs],
        "closest_distance": closest,
    }


def build(
    src: Path,
    out: Path,
    negatives: list[Path],
    held_out: tuple[str, ...] = HELD_OUT,
    counts: dict[str, int] | None = None,
    seed: int = 0,
    workers: int | None = None,
    check_duplicates: int | None = None,
    repeats: dict[str, int] | None = None,
    corrupt_share: float = 0.0,
) -> BuildReport:
    """Write the dataset to `out` (re-created); `counts` = generated images per kind;
    `check_duplicates` = dHash distance within which a training image that near-duplicates a
    held-out one is left out (`held_out_near_duplicates`; None: not checked); `repeats` = class name
    (of `src`) -> times its train images are shown per epoch (`repeat_class`); `corrupt_share` =
    chance of one street condition on each generated image (the real photos stay as they are).
    Unknown classes or sources raise `BuildRequestError` before anything is read or written."""
    began = time.monotonic()
    counts = counts or {}
    names = class_names(src)
    unknown_classes = set(repeats or {}) - set(names)
    if unknown_classes:
        raise BuildRequestError(f"classes {sorted(unknown_classes)} to repeat not in {src / 'data.yaml'}: {names}")
    known = {r["source"] for r in read_manifest(src)}
    unknown = set(held_out) - known
    if unknown:
        raise BuildRequestError(f"held-out sources {sorted(unknown)} not in {src / 'manifest.csv'}: {sorted(known)}")
    duplicates = None
    if check_duplicates is not None:
        duplicates = held_out_near_duplicates(src, negatives, held_out, check_duplicates)
    shutil.rmtree(out, ignore_errors=True)
    for split in ("train", "val"):
        (out / "images" / split).mkdir(parents=True)
        (out / "labels" / split).mkdir(parents=True)
    leak = {Path(b).stem for _, b in (duplicates or {}).get("pairs", [])}
    real = copy_real(src, out, held_out, leak)
    pools = load_pools(src, [n for n in negatives if n.is_dir()], held_out, seed)
    pools.roads = [p for p in pools.roads if p.image.stem not in leak]
    pools.plates = [p for p in pools.plates if p.image.stem not in leak]
    pools.streets = [p for p in pools.streets if p.stem not in leak]
    pools.scenery = [p for p in pools.scenery if p.stem not in leak]
    notes = []
    if not pools.streets:
        notes.append("no negative datasets found: views use synthetic scenery only")
    kinds = dict(counts)
    if not pools.plates:
        kinds["under"] = 0
    if not pools.streets:
        kinds = {k: 0 for k in kinds}
    tasks = [
        Task(kind, i, out / "images" / "train" / f"gen_{kind}_{i:05d}.jpg", corrupt_share)
        for kind, n in kinds.items()
        for i in range(n)
    ]
    # spawn, not fork: a forked worker can inherit a lock held by a thread of the parent (OpenCV,
    # a test session's server threads) and hang for ever.
    with get_context("spawn").Pool(workers or os.cpu_count() or 1, initializer=_init, initargs=(pools,)) as pool:
        results = pool.map(run_task, tasks, chunksize=4)
    made: Counter = Counter()
    boxes: Counter = Counter()
    aspects: list[float] = []
    for kind, box_aspects, ok in results:
        made[kind] += ok
        boxes[kind] += len(box_aspects)
        aspects += box_aspects
    (out / "data.yaml").write_text(
        "# Written by `python -m training.road_views`; paths are relative to this file's folder.\n"
        + (
            f"# Held out of train and val: {', '.join(held_out)} (test it with `stadtblick train loso`).\n"
            if held_out
            else "# No source held out (--all-sources): a version to ship, not a leave-one-source-out test.\n"
        )
        + yaml.safe_dump(
            {"train": "images/train", "val": "images/val", "nc": len(names), "names": dict(enumerate(names))},
            sort_keys=False,
        ),
        encoding="utf-8",
    )
    report = BuildReport(
        str(out), list(held_out), dict(real), dict(made), dict(boxes), round(time.monotonic() - began, 1), notes
    )
    if aspects:  # compare with the labelled boxes of the sources (foreshortening check)
        report.view_box_aspect = dict(
            zip(("p10", "median", "p90"), np.percentile(aspects, [10, 50, 90]).round(3).tolist(), strict=True)
        )
    if duplicates is not None:
        report.near_duplicates = duplicates
    report.corrupt_share = corrupt_share
    for name, times in (repeats or {}).items():
        report.repeated[name] = {"times": times, "images": repeat_class(out, names.index(name), times)}
    (out / BUILD_REPORT).write_text(report.to_json() + "\n", encoding="utf-8")
    return report


def repeat_class(out: Path, cls: int, times: int) -> int:
    """Weight a rare class up: every train image with a `cls` box is linked `times - 1` more times
    (as `rep<k>_<name>`, label beside it), so each epoch shows it `times` times. A fine-tune on the
    views alone forgets the 74 crack boxes of 70 close-ups; returns how many images were repeated."""
    repeated = 0
    for image in sorted((out / "images" / "train").iterdir()):  # listed before the first link
        if not is_image(image) or cls not in read_yolo_label(image)[0]:
            continue
        for k in range(1, times):
            copy = image.with_name(f"rep{k}_{image.name}")
            _link(image, copy)
            _link(label_path_for(image), label_path_for(copy))
        repeated += 1
    return repeated


DEFAULT_COUNTS = {"view": 600, "negview": 200, "street": 150, "under": 100, "asphalt": 80}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.road_views", description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, required=True, help="road_damage dataset (data.yaml, manifest.csv)")
    parser.add_argument("--out", type=Path, required=True, help="dataset folder to (re)create")
    parser.add_argument(
        "--negatives",
        type=Path,
        action="append",
        help="pothole-free photo datasets (YOLO layout); default: graffiti and anonymize beside --src",
    )
    held = parser.add_mutually_exclusive_group()
    held.add_argument("--hold-out", action="append", help=f"manifest source kept out (default {HELD_OUT[0]})")
    held.add_argument(
        "--all-sources",
        action="store_true",
        help="keep no source out: for the version to ship, once `stadtblick train loso` has chosen the recipe",
    )
    for kind, n in DEFAULT_COUNTS.items():
        parser.add_argument(f"--{kind}", type=int, default=n, help=f"generated {kind} images (default {n})")
    parser.add_argument(
        "--repeat",
        action="append",
        default=[],
        metavar="CLASS=TIMES",
        help="show the train images with a box of CLASS (a class of --src) TIMES times per epoch, e.g. crack=3",
    )
    parser.add_argument(
        "--corrupt-share",
        type=float,
        default=0.0,
        help="chance of one street condition (noise, blur, JPEG, low light, tilt, stretch: training.corruptions) "
        "on each generated image, boxes moved along (default 0)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, help="processes (default: all cores)")
    parser.add_argument(
        "--check-duplicates",
        type=int,
        metavar="BITS",
        help="first look for near-duplicates (dHash distance <= BITS of 64; needs Pillow) of the held-out "
        "images among the training images, report them and leave them out",
    )
    args = parser.parse_args(argv)
    repeats = {}
    for item in args.repeat:
        name, _, times = item.partition("=")
        if not times.isdigit() or int(times) < 1:
            parser.error(f"--repeat {item!r}: expected CLASS=TIMES with TIMES >= 1")
        repeats[name] = int(times)
    negatives = [n for n in args.negatives or [args.src.parent / name for name in NEGATIVE_DATASETS] if n.is_dir()]
    held_out = () if args.all_sources else tuple(args.hold_out or HELD_OUT)
    try:
        report = build(
            args.src,
            args.out,
            negatives,
            held_out,
            {kind: getattr(args, kind) for kind in DEFAULT_COUNTS},
            args.seed,
            args.workers,
            args.check_duplicates,
            repeats,
            args.corrupt_share,
        )
    except BuildRequestError as err:  # a usage error, not a traceback
        parser.error(str(err))
    print(report.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
