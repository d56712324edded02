"""Test images generated at run time: a 1080p dash-cam-like frame and a 12-MP phone photo.

Nothing from ../shared is copied into the repository: a street photo from there (or the one
Ultralytics ships) is resized and mirrored into the target sizes in a temporary folder. Light
sensor noise keeps the JPEG size realistic (an upscaled photo alone compresses far too well,
which would flatter decoding and upload times).
"""

from __future__ import annotations

import importlib.util
import io
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SIZES = {"1080p": (1920, 1080, 90), "12mp": (4032, 3024, 92)}  # name -> (width, height, JPEG quality)


@dataclass(frozen=True)
class TestImage:
    name: str
    width: int
    height: int
    path: Path
    source: str

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()

    @property
    def megabytes(self) -> float:
        return round(self.path.stat().st_size / 2**20, 2)


def shared_dir() -> Path:
    env = os.environ.get("STADTBLICK_SHARED") or os.environ.get("STADTBLICK_SHARED_DIR")
    return Path(env) if env else REPO.parent / "shared"


def find_source_photo() -> tuple[np.ndarray | None, str]:
    """An RGB street photo to build the frames from, or None (then frames are synthetic)."""
    candidates = [shared_dir() / "samples" / "bus.jpg"]
    spec = importlib.util.find_spec("ultralytics")  # optional; ships the same photo in its assets
    if spec and spec.origin:
        candidates.append(Path(spec.origin).parent / "assets" / "bus.jpg")
    for path in candidates:
        if path.is_file():
            bgr = cv2.imread(str(path))
            if bgr is not None:
                return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), path.name
    return None, "synthetic"


def _synthetic(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Sky/road gradient with boxes of colour: structure a detector and a JPEG encoder both react to."""
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    img = (np.array([150, 180, 220], np.float32) * (1 - y) + np.array([70, 70, 75], np.float32) * y).repeat(width, 1)
    for _ in range(40):
        w, h = int(rng.integers(width // 40, width // 6)), int(rng.integers(height // 40, height // 5))
        x0, y0 = int(rng.integers(0, width - w)), int(rng.integers(height // 3, height - h))
        img[y0 : y0 + h, x0 : x0 + w] = rng.integers(0, 255, 3)
    return img.astype(np.uint8)


def make_frame(photo: np.ndarray | None, width: int, height: int, seed: int = 0) -> np.ndarray:
    """Scale the photo to `height`, mirror-tile it to `width`, add sensor-like noise."""
    rng = np.random.default_rng(seed)
    if photo is None:
        base = _synthetic(width, height, rng)
    else:
        scale = height / photo.shape[0]
        scaled = cv2.resize(photo, (max(round(photo.shape[1] * scale), 1), height), interpolation=cv2.INTER_CUBIC)
        tiles, total = [], 0
        while total < width:
            tiles.append(scaled if len(tiles) % 2 == 0 else scaled[:, ::-1])
            total += scaled.shape[1]
        base = np.concatenate(tiles, axis=1)[:, :width]
    noise = rng.standard_normal(base.shape, dtype=np.float32) * np.float32(3.0)
    return np.clip(base.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def jpeg_bytes(rgb: np.ndarray, quality: int) -> bytes:
    """JPEG with a small camera-like EXIF block (make, model, capture time), as phones send."""
    exif = Image.Exif()
    exif[0x010F] = "stadtblick-bench"  # Make
    exif[0x0110] = "synthetic"  # Model
    exif[0x0132] = "2026:05:04 09:12:33"  # DateTime
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality, exif=exif)
    return buf.getvalue()


def make_test_images(out_dir: Path) -> list[TestImage]:
    """Write the benchmark JPEGs into `out_dir` (a temporary folder) and describe them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    photo, source = find_source_photo()
    images = []
    for seed, (name, (width, height, quality)) in enumerate(SIZES.items()):
        path = out_dir / f"{name}.jpg"
        path.write_bytes(jpeg_bytes(make_frame(photo, width, height, seed), quality))
        images.append(TestImage(name, width, height, path, source))
    return images
