"""Street-frame corruptions with their boxes: one set for the robustness benchmark and the training data.

Each corruption takes an image (uint8, H x W x 3, either channel order), its labelled boxes
(n x 4 pixel xyxy) and a random generator, and returns the corrupted image with the boxes moved
to where the objects now are. Geometric ones (rotation, stretch, downscale) transform the boxes;
the others leave them as they are. Only numpy and OpenCV: the dataset builder runs where the
service's dependencies are not installed.

The ranges are those of issue #21 (parking-lot and dash-cam frames): Gaussian and salt-and-pepper
sensor noise, motion and defocus blur, JPEG quality 20-40, low light, ±15° rotation, 0.6-1.6
aspect stretch, and downscaling until the largest labelled box is 8-32 px on its shorter side.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import cv2
import numpy as np

Corruption = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]

GREY = (114, 114, 114)  # the letterbox colour Ultralytics pads with
SMALL_SIDE = (8.0, 32.0)  # shorter side of the largest box after `downscale`


def gaussian_noise(img: np.ndarray, boxes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    sigma = rng.uniform(8.0, 25.0)
    noisy = img.astype(np.float32) + rng.normal(0.0, sigma, img.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8), boxes


def salt_pepper(img: np.ndarray, boxes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    amount = rng.uniform(0.02, 0.08)
    out = img.copy()
    hit = rng.random(img.shape[:2])
    out[hit < amount / 2] = 0
    out[hit > 1 - amount / 2] = 255
    return out, boxes


def motion_blur(img: np.ndarray, boxes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    length = int(rng.integers(7, 16))
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0
    turn = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), rng.uniform(0, 180), 1.0)
    kernel = cv2.warpAffine(kernel, turn, (length, length))
    return cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6)), boxes


def defocus_blur(img: np.ndarray, boxes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    radius = int(rng.integers(2, 6))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)).astype(np.float32)
    return cv2.filter2D(img, -1, kernel / kernel.sum()), boxes


def jpeg(img: np.ndarray, boxes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(20, 41))])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return cv2.imdecode(data, cv2.IMREAD_COLOR), boxes


def low_light(img: np.ndarray, boxes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Dusk or a dark car park: gamma > 1 crushes the shadows, the gain dims the rest."""
    gamma, gain = rng.uniform(1.6, 2.6), rng.uniform(0.35, 0.7)
    table = (255.0 * gain * (np.arange(256) / 255.0) ** gamma).round().astype(np.uint8)
    return cv2.LUT(img, table), boxes


def warp_boxes(boxes: np.ndarray, matrix: np.ndarray, width: int, height: int) -> np.ndarray:
    """Axis-aligned boxes around the transformed corners, clipped to the image (2x3 or 3x3 matrix)."""
    if not len(boxes):
        return boxes.reshape(0, 4).astype(np.float64)
    x1, y1, x2, y2 = boxes.T
    corners = np.stack([np.stack([x1, y1], 1), np.stack([x2, y1], 1), np.stack([x2, y2], 1), np.stack([x1, y2], 1)], 1)
    m = np.vstack([matrix, [0, 0, 1]]) if matrix.shape == (2, 3) else matrix
    moved = cv2.perspectiveTransform(corners.reshape(-1, 1, 2).astype(np.float64), m).reshape(-1, 4, 2)
    out = np.concatenate([moved.min(1), moved.max(1)], 1)
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
    return out


def rotate(img: np.ndarray, boxes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A tilted camera, ±15°, about the centre; corners that come in are grey, not mirrored copies."""
    h, w = img.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-15.0, 15.0), 1.0)
    out = cv2.warpAffine(img, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=GREY)
    return out, warp_boxes(boxes, matrix, w, h)


def stretch(img: np.ndarray, boxes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Aspect ratio changed by 0.6-1.6 (a wrongly rescaled upload), the pixel count about the same."""
    h, w = img.shape[:2]
    factor = float(np.exp(rng.uniform(np.log(0.6), np.log(1.6))))
    new_w, new_h = max(round(w * factor**0.5), 1), max(round(h / factor**0.5), 1)
    out = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
    return out, boxes * np.array([new_w / w, new_h / h, new_w / w, new_h / h])


def downscale(
    img: np.ndarray, boxes: np.ndarray, rng: np.random.Generator, canvas: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A far-away scene: the image shrunk until its largest box is 8-32 px, pasted into a canvas.

    The canvas keeps the frame large (as a street camera's would be); by default it is the image
    itself blurred beyond recognition, so nothing readable is left unlabelled around the paste.
    """
    h, w = img.shape[:2]
    if canvas is None:
        canvas = cv2.GaussianBlur(img, (0, 0), max(h, w) / 10)
    ch, cw = canvas.shape[:2]
    sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) if len(boxes) else np.zeros(0)
    target = rng.uniform(*SMALL_SIDE)
    scale = min(target / sides.max() if len(sides) and sides.max() > 0 else 0.25, cw / w, ch / h, 1.0)
    small_w, small_h = max(round(w * scale), 1), max(round(h * scale), 1)
    small = cv2.resize(img, (small_w, small_h), interpolation=cv2.INTER_AREA)
    x0, y0 = int(rng.integers(0, cw - small_w + 1)), int(rng.integers(0, ch - small_h + 1))
    out = canvas.copy()
    out[y0 : y0 + small_h, x0 : x0 + small_w] = small
    moved = boxes * np.array([small_w / w, small_h / h, small_w / w, small_h / h]) + np.array([x0, y0, x0, y0])
    return out, moved


CORRUPTIONS: dict[str, Corruption] = {
    "gaussian_noise": gaussian_noise,
    "salt_pepper": salt_pepper,
    "motion_blur": motion_blur,
    "defocus_blur": defocus_blur,
    "jpeg": jpeg,
    "low_light": low_light,
    "rotate": rotate,
    "stretch": stretch,
    "downscale": downscale,
}


def seeded(name: str, key: str, seed: int = 0) -> np.random.Generator:
    """The same random draw for the same image and corruption, on every machine and run."""
    return np.random.default_rng([seed, zlib.crc32(name.encode()), zlib.crc32(key.encode())])


def corrupt(name: str, img: np.ndarray, boxes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Apply the named corruption; boxes of no area left (pushed out of the frame) stay, as empty."""
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; known: {', '.join(CORRUPTIONS)}")
    return CORRUPTIONS[name](img, np.asarray(boxes, np.float64).reshape(-1, 4), rng)


def maybe_corrupt(
    img: np.ndarray, boxes: np.ndarray, rng: np.random.Generator, share: float, names: tuple[str, ...] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """With probability `share`, one corruption drawn from `names` (default: all but `downscale`,
    which would shrink every object); training data in street conditions, boxes moved along."""
    if rng.random() >= share:
        return img, boxes
    choices = list(names or [n for n in CORRUPTIONS if n != "downscale"])
    return corrupt(str(rng.choice(choices)), img, boxes, rng)


def chosen(spec: str, also: tuple[str, ...] = ()) -> list[str]:
    """'all' (every corruption) or a comma list of names (corruptions and `also`), each checked:
    a mistyped condition is an error, not one silently left out of a benchmark."""
    names = list(CORRUPTIONS) if spec == "all" else [n.strip() for n in spec.split(",") if n.strip()]
    unknown = sorted(set(names) - {*CORRUPTIONS, *also})
    if unknown:
        raise ValueError(f"unknown corruptions {unknown}; known: {', '.join([*also, *CORRUPTIONS])}")
    return names
