"""Training data for plates in street conditions: small, tilted, blurred, noisy and synthetic.

The anonymize dev set has almost only large, sharp close-up plates, so a detector trained on it
misses the 8-32 px plates of parking-lot and dash-cam frames (issue #21). This builder writes a
YOLO dataset whose train split is

- the real train images, unchanged;
- one corrupted copy of each (a corruption of `training.corruptions`, the benchmark's own set);
- `synthetic` street crops (lower parts of the road_damage photos, or the anonymize photos
  themselves) with 1-4 rendered plates of several countries' layouts pasted in perspective,
  often on a bumper-coloured patch, with exact boxes (the box around the warped plate);
- `small` canvases: a real train photo shrunk until its plate or face is 8-32 px, pasted into a
  street crop, plus synthetic plates around it;

a share of the last two corrupted again. The val split is the real val, unchanged, so validation
numbers stay comparable with the shipped version. Only numpy, OpenCV, PyYAML and the standard
library: it runs on the training machine, where the service's dependencies are not installed.

    python -m training.synth_plates --src ../shared/datasets/anonymize --out work/anonymize-street

Background photos must show no face or plate: they get no labels. In a one-off check (not a repo
command) anonymize 1.0.1 (conf 0.3) found something in the lower 60 % of 15 of 797 road_damage
photos but of 242 of 773 graffiti photos (people, parked cars), so road_damage is the default
background and graffiti is left out.
"""

from __future__ import annotations

import argparse
import os
import shutil
import string
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np
import yaml

from training.corruptions import CORRUPTIONS, corrupt, downscale, maybe_corrupt, seeded
from training.datasets.layout import Box, label_path_for, load_yolo_dataset, read_yolo_label, yolo_line

PLATE = 1  # class id of licence_plate in the anonymize taxonomy (0 is face)
MIN_SIDE = 2.0  # boxes thinner than this after a transform are dropped: nothing left to see
PLATE_HEIGHT = 100  # rendering height of a one-line plate, in pixels, before it is warped down

# BGR colours (OpenCV's order; images are read and written with OpenCV).
WHITE, YELLOW, EU_BLUE = (245, 245, 245), (20, 200, 250), (160, 60, 0)
CAR_COLOURS = ((20, 20, 20), (235, 235, 235), (170, 170, 170), (40, 40, 180), (150, 80, 30), (90, 90, 90))
FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX)


@dataclass(frozen=True)
class PlateLayout:
    """A country's plate as far as a detector cares: shape, colours, where the characters sit."""

    name: str
    aspect: tuple[float, float]  # width / height range
    patterns: tuple[str, ...]  # L letter, D digit, anything else literally; '/' starts a second line
    yellow: float = 0.0  # share with a yellow background
    strip: bool = False  # blue band on the left (EU, Iran)
    right_box: bool = False  # separate field on the right (Iranian region code)
    header: bool = False  # small state name above the characters (US)


LAYOUTS = (
    PlateLayout("eu", (4.3, 4.9), ("LL LL DDD", "L LL DDDD", "DD-LLL-D", "LLL DDD", "LL-DDD-L"), 0.25, strip=True),
    PlateLayout("iran", (4.2, 4.7), ("DD L DDD",), strip=True, right_box=True),
    PlateLayout("algeria", (4.2, 4.8), ("DDDDD DDD DD", "DDDDDD DDD DD"), 0.4),
    PlateLayout("india", (3.8, 4.5), ("LL DD LL DDDD", "LL DD L DDDD"), 0.3),
    PlateLayout("us", (1.8, 2.1), ("LLL-DDDD", "DLLL DDD", "LLL DDD"), header=True),
    PlateLayout("two_line", (1.4, 2.0), ("LL DD/DDDD", "DDD/LL DD"), 0.3),
)


def _characters(pattern: str, rng: np.random.Generator) -> str:
    def one(c: str) -> str:
        if c == "L":
            return str(rng.choice(list(string.ascii_uppercase)))
        if c == "D":
            return str(rng.integers(0, 10))
        return c

    return "".join(one(c) for c in pattern)


def _put_fitted(img: np.ndarray, text: str, box: tuple[int, int, int, int], colour, font: int, weight: float) -> None:
    """Write `text` as large as fits into box (x1, y1, x2, y2), centred."""
    x1, y1, x2, y2 = box
    (tw, th), _ = cv2.getTextSize(text, font, 1.0, 1)
    scale = min((x2 - x1) / tw, (y2 - y1) / th)
    thickness = max(round(scale * weight), 1)
    (tw, th), _ = cv2.getTextSize(text, font, scale, thickness)
    origin = (x1 + (x2 - x1 - tw) // 2, y1 + (y2 - y1 + th) // 2)
    cv2.putText(img, text, origin, font, scale, colour, thickness, cv2.LINE_AA)


def render_plate(rng: np.random.Generator, layout: PlateLayout | None = None) -> np.ndarray:
    """A frontal plate image (BGR), filled to its edges: the plate is exactly the image rectangle."""
    layout = layout or LAYOUTS[int(rng.integers(0, len(LAYOUTS)))]
    pattern = str(rng.choice(list(layout.patterns)))
    two_lines = "/" in pattern
    h = PLATE_HEIGHT * (2 if two_lines else 1)
    w = round(h * rng.uniform(*layout.aspect))
    background = YELLOW if rng.random() < layout.yellow else WHITE
    tint = rng.uniform(0.8, 1.0)
    plate = np.empty((h, w, 3), np.uint8)
    plate[:] = tuple(int(c * tint) for c in background)
    ink = (20, 20, 20) if rng.random() < 0.85 else tuple(int(c) for c in rng.integers(0, 120, 3))
    font, weight = FONTS[int(rng.integers(0, len(FONTS)))], rng.uniform(2.5, 4.0)
    pad = max(h // 12, 3)
    left, right, top = pad, w - pad, pad
    if layout.strip:
        strip_w = int(w * rng.uniform(0.07, 0.1))
        cv2.rectangle(plate, (0, 0), (strip_w, h), EU_BLUE, -1)
        _put_fitted(
            plate, str(rng.choice(["D", "NL", "F", "I", "IR", "DK"])), (2, h // 2, strip_w - 2, h - pad), WHITE, font, 2
        )
        left = strip_w + pad
    if layout.right_box:
        box_w = int(w * 0.18)
        cv2.line(plate, (w - box_w, 0), (w - box_w, h), ink, max(h // 30, 2))
        _put_fitted(plate, _characters("DD", rng), (w - box_w + pad, pad * 2, w - pad, h - pad), ink, font, weight)
        right = w - box_w - pad
    if layout.header:
        state = str(rng.choice(["VIRGINIA", "TEXAS", "OHIO", "FLORIDA", "NEW YORK", "OREGON"]))
        header_colour = tuple(int(c) for c in rng.integers(0, 160, 3))
        _put_fitted(plate, state, (left + w // 6, pad, right - w // 6, int(h * 0.22)), header_colour, font, 2)
        top = int(h * 0.25)
    lines = _characters(pattern, rng).split("/")
    line_h = (h - top - pad) / len(lines)
    for i, line in enumerate(lines):
        y1 = int(top + i * line_h + line_h * 0.1)
        _put_fitted(plate, line, (left, y1, right, int(top + (i + 1) * line_h - line_h * 0.1)), ink, font, weight)
    cv2.rectangle(plate, (0, 0), (w - 1, h - 1), (30, 30, 30), max(h // 25, 2))
    dirt = cv2.resize(rng.uniform(0.8, 1.0, (3, 6)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(plate * dirt[..., None], 0, 255).astype(np.uint8)


def _quad(cx: float, cy: float, w: float, h: float, rng: np.random.Generator) -> np.ndarray:
    """Where a w x h plate lands: tilted up to ±15°, seen at an angle (one side shorter)."""
    corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]], np.float64)
    yaw = rng.uniform(-0.25, 0.25)  # the far side of a plate seen from the side looks shorter
    corners[[1, 2], 1] *= 1 - max(yaw, 0)
    corners[[0, 3], 1] *= 1 + min(yaw, 0)
    corners += rng.normal(0, 0.04, corners.shape) * np.array([w, h])
    angle = np.deg2rad(rng.uniform(-15, 15))
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return corners @ turn.T + np.array([cx, cy])


def _overlaps(box: np.ndarray, others: Sequence[np.ndarray]) -> bool:
    return any(box[0] < o[2] and o[0] < box[2] and box[1] < o[3] and o[1] < box[3] for o in others)


def _plate_height(rng: np.random.Generator) -> float:
    """Mostly the sizes the dev set lacks (6-48 px tall), some larger ones."""
    return float(np.exp(rng.uniform(np.log(6), np.log(48)))) if rng.random() < 0.8 else rng.uniform(48, 110)


def paste_plate(img: np.ndarray, taken: list[np.ndarray], rng: np.random.Generator) -> np.ndarray | None:
    """Composite one synthetic plate into img (in place); its box, or None when it did not fit."""
    ih, iw = img.shape[:2]
    plate = render_plate(rng)
    ph, pw = plate.shape[:2]
    height = min(_plate_height(rng), 0.3 * ih, 0.8 * iw * ph / pw)  # it must fit, tilted, into the frame
    width = height * pw / ph
    for _ in range(20):
        cx, cy = rng.uniform(width * 0.6, iw - width * 0.6), rng.uniform(ih * 0.15 + height, ih - height)
        quad = _quad(cx, cy, width, height, rng)
        box = np.concatenate([quad.min(0), quad.max(0)])
        if box[0] >= 0 and box[1] >= 0 and box[2] <= iw and box[3] <= ih and not _overlaps(box, taken):
            break
    else:
        return None
    if rng.random() < 0.6:  # a bumper or boot lid around it
        grow = np.array([width * rng.uniform(0.6, 1.5), height * rng.uniform(1.0, 3.0)])
        colour = tuple(
            int(c) for c in np.array(CAR_COLOURS[int(rng.integers(0, len(CAR_COLOURS)))]) * rng.uniform(0.6, 1.1)
        )
        a = np.maximum(box[:2] - grow, 0).astype(int)
        b = np.minimum(box[2:] + grow, [iw - 1, ih - 1]).astype(int)
        if not _overlaps(np.concatenate([a, b]).astype(float), taken):
            cv2.rectangle(img, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), colour, -1)
    # Shrink the rendering to about twice its final size first: warping straight down aliases.
    scale = min(2 * height / ph, 1.0)
    plate = cv2.resize(plate, (max(int(pw * scale), 2), max(int(ph * scale), 2)), interpolation=cv2.INTER_AREA)
    ph, pw = plate.shape[:2]
    x0, y0 = int(np.floor(box[0])), int(np.floor(box[1]))
    x1, y1 = min(int(np.ceil(box[2])) + 1, iw), min(int(np.ceil(box[3])) + 1, ih)
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, (quad - [x0, y0]).astype(np.float32))
    size = (x1 - x0, y1 - y0)
    warped = cv2.warpPerspective(plate, matrix, size, flags=cv2.INTER_LINEAR)
    alpha = cv2.warpPerspective(np.ones((ph, pw), np.float32), matrix, size, flags=cv2.INTER_LINEAR)[..., None]
    roi = img[y0:y1, x0:x1].astype(np.float32)
    # A plate in a dark scene is dark too, but it reflects: it stays brighter than what it is on.
    light = np.clip(0.6 + 0.5 * roi.mean() / 255, 0.6, 1.05)
    blended = roi * (1 - alpha) + warped.astype(np.float32) * light * alpha
    if rng.random() < 0.3:
        blended = cv2.GaussianBlur(blended, (0, 0), rng.uniform(0.4, 1.2))
    img[y0:y1, x0:x1] = np.clip(blended, 0, 255).astype(np.uint8)
    taken.append(box)
    return box


# --- dataset assembly -------------------------------------------------------------------------


@dataclass(frozen=True)
class Sources:
    train: list[Path]  # real anonymize train images (labels beside them)
    backgrounds: list[Path]  # street photos without face/plate labels (their lower halves are used)
    seed: int
    corrupt_share: float


def read_boxes(image: Path, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Class ids and pixel xyxy boxes of a YOLO label file."""
    cls, xywh = read_yolo_label(image)
    xyxy = np.column_stack(
        [
            xywh[:, 0] - xywh[:, 2] / 2,
            xywh[:, 1] - xywh[:, 3] / 2,
            xywh[:, 0] + xywh[:, 2] / 2,
            xywh[:, 1] + xywh[:, 3] / 2,
        ]
    ) * np.array([width, height, width, height])
    return cls, xyxy.reshape(-1, 4)


def _resized(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    scale = rng.uniform(640, 1024) / img.shape[1]
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(img, None, fx=scale, fy=scale, interpolation=interpolation), scale


def background_crop(src: Sources, rng: np.random.Generator) -> np.ndarray:
    """A street crop 640-1024 px wide with nothing labelled: the lower part of a background photo.

    Without background photos, a grey canvas (the letterbox colour).
    """
    if not src.backgrounds:
        return np.full((640, 640, 3), 114, np.uint8)
    img = cv2.imread(str(src.backgrounds[int(rng.integers(0, len(src.backgrounds)))]), cv2.IMREAD_COLOR)
    img = img[int(img.shape[0] * rng.uniform(0.4, 0.55)) :]
    h, w = img.shape[:2]
    keep = min(w, int(1.6 * h))  # no long thin strips: letterboxing would waste most of the input
    x0 = int(rng.integers(0, w - keep + 1))
    return _resized(img[:, x0 : x0 + keep], rng)[0]


def street_canvas(src: Sources, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where synthetic plates go: mostly a background crop, else a real train photo with its labels."""
    if src.backgrounds and rng.random() < 0.7:
        return background_crop(src, rng), np.zeros(0, np.int64), np.zeros((0, 4))
    path = src.train[int(rng.integers(0, len(src.train)))]
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    cls, boxes = read_boxes(path, img.shape[1], img.shape[0])
    img, scale = _resized(img, rng)
    return img, cls, boxes * scale


def add_plates(img: np.ndarray, cls: np.ndarray, boxes: np.ndarray, rng: np.random.Generator, n: int):
    taken = list(boxes)
    added = [b for b in (paste_plate(img, taken, rng) for _ in range(n)) if b is not None]
    return np.concatenate([cls, np.full(len(added), PLATE)]), np.vstack([boxes.reshape(-1, 4), *added])


def make_example(src: Sources, kind: str, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One training image of a kind: 'corrupted', 'synthetic' or 'small'."""
    rng = seeded(kind, str(index), src.seed)
    if kind == "corrupted":
        path = src.train[index % len(src.train)]
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        cls, boxes = read_boxes(path, img.shape[1], img.shape[0])
        name = str(rng.choice(list(CORRUPTIONS)))
        if name == "downscale":
            img, boxes = downscale(img, boxes, rng, background_crop(src, rng))
        else:
            img, boxes = corrupt(name, img, boxes, rng)
        return img, cls, boxes
    if kind == "synthetic":
        img, cls, boxes = street_canvas(src, rng)
        cls, boxes = add_plates(img, cls, boxes, rng, int(rng.integers(1, 5)))
        img, boxes = maybe_corrupt(img, boxes, rng, src.corrupt_share)
        return img, cls, boxes
    if kind == "small":
        path = src.train[int(rng.integers(0, len(src.train)))]
        photo = cv2.imread(str(path), cv2.IMREAD_COLOR)
        cls, boxes = read_boxes(path, photo.shape[1], photo.shape[0])
        img, boxes = downscale(photo, boxes, rng, background_crop(src, rng))
        cls, boxes = add_plates(img, cls, boxes, rng, int(rng.integers(0, 3)))
        img, boxes = maybe_corrupt(img, boxes, rng, src.corrupt_share)
        return img, cls, boxes
    raise ValueError(f"unknown kind {kind!r}")


def label_lines(cls: np.ndarray, boxes: np.ndarray, width: int, height: int) -> list[str]:
    """YOLO lines of the boxes that are still visible (clipped to the image, at least MIN_SIDE thick)."""
    lines = []
    for c, (x1, y1, x2, y2) in zip(cls, boxes, strict=True):
        x1, x2 = np.clip([x1, x2], 0, width)
        y1, y2 = np.clip([y1, y2], 0, height)
        if min(x2 - x1, y2 - y1) >= MIN_SIDE:
            line = yolo_line(Box("", float(x1), float(y1), float(x2), float(y2)), int(c), width, height)
            lines.append(line) if line else None
    return lines


_SOURCES: Sources | None = None


def _init(src: Sources) -> None:
    global _SOURCES
    _SOURCES = src
    cv2.setNumThreads(1)


def _write(job: tuple[str, int, str]) -> int:
    kind, index, out = job
    assert _SOURCES is not None
    img, cls, boxes = make_example(_SOURCES, kind, index)
    target = Path(out) / "images" / "train" / f"{kind}_{index:05d}.jpg"
    cv2.imwrite(str(target), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    lines = label_lines(cls, boxes, img.shape[1], img.shape[0])
    label_path_for(target).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return len(lines)


def _copy_split(images: list[Path], out: Path, split: str) -> None:
    for image in images:
        target = out / "images" / split / image.name
        shutil.copy2(image, target)
        label = label_path_for(image)
        if label.is_file():
            shutil.copy2(label, label_path_for(target))
        else:
            label_path_for(target).write_text("", encoding="utf-8")


def build(
    src_yaml: Path,
    out: Path,
    backgrounds: Sequence[Path] = (),
    synthetic: int = 1200,
    small: int = 800,
    corrupted: int | None = None,
    corrupt_share: float = 0.5,
    seed: int = 0,
    workers: int | None = None,
) -> dict[str, int]:
    """Write the dataset; returns the number of train images of each kind."""
    ds = load_yolo_dataset(src_yaml)
    if ds.names[:2] != ["face", "licence_plate"]:
        raise ValueError(f"{src_yaml}: expected classes face, licence_plate, found {ds.names}")
    train, val = ds.splits.get("train") or [], ds.splits.get("val") or []
    if not train:
        raise ValueError(f"{src_yaml} has no train images")
    photos = [
        p for folder in backgrounds for split in load_yolo_dataset(folder / "data.yaml").splits.values() for p in split
    ]
    if out.exists():
        shutil.rmtree(out)
    for split in ("train", "val"):
        (out / "images" / split).mkdir(parents=True)
        (out / "labels" / split).mkdir(parents=True)
    _copy_split(train, out, "train")
    _copy_split(val, out, "val")
    counts = {
        "real": len(train),
        "corrupted": len(train) if corrupted is None else corrupted,
        "synthetic": synthetic,
        "small": small,
    }
    jobs = [(kind, i, str(out)) for kind in ("corrupted", "synthetic", "small") for i in range(counts[kind])]
    sources = Sources(train, photos, seed, corrupt_share)
    # spawn, not fork: a forked worker can inherit a lock held by a thread of the parent (OpenCV,
    # a test session's server threads) and hang for ever.
    with get_context("spawn").Pool(workers or os.cpu_count() or 1, initializer=_init, initargs=(sources,)) as pool:
        for _ in pool.imap_unordered(_write, jobs, chunksize=8):
            pass
    data = {"train": "images/train", "val": "images/val", "nc": len(ds.names), "names": dict(enumerate(ds.names))}
    (out / "data.yaml").write_text(
        "# Written by `python -m training.synth_plates`; paths are relative to this file's folder.\n"
        + yaml.safe_dump(data, sort_keys=False),
        encoding="utf-8",
    )
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.synth_plates", description=__doc__.split("\n")[0])
    p.add_argument("--src", type=Path, required=True, help="anonymize dataset folder (with data.yaml)")
    p.add_argument("--out", type=Path, required=True, help="output folder (replaced)")
    p.add_argument(
        "--backgrounds",
        type=Path,
        nargs="*",
        help="street datasets for canvases (default: road_damage beside --src)",
    )
    p.add_argument("--synthetic", type=int, default=1200, help="street crops with rendered plates")
    p.add_argument("--small", type=int, default=800, help="real photos shrunk into a street crop")
    p.add_argument("--corrupted", type=int, help="corrupted copies of real train images (default: one each)")
    p.add_argument("--corrupt-share", type=float, default=0.5, help="share of synthetic/small images corrupted too")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, help="processes (default: all cores)")
    args = p.parse_args(argv)
    if args.backgrounds is None:
        args.backgrounds = [d for d in [args.src.parent / "road_damage"] if (d / "data.yaml").is_file()]
    start = time.perf_counter()
    counts = build(
        args.src / "data.yaml",
        args.out,
        args.backgrounds,
        args.synthetic,
        args.small,
        args.corrupted,
        args.corrupt_share,
        args.seed,
        args.workers,
    )
    total = sum(counts.values())
    print(
        f"{args.out}: {total} train images ({', '.join(f'{k} {v}' for k, v in counts.items())}), "
        f"backgrounds from {[str(b) for b in args.backgrounds]}, {time.perf_counter() - start:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
