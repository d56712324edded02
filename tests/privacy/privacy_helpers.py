"""A street scene with a 'face' and a 'licence plate' that the square detector finds exactly."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from helpers import dms, jpeg_bytes
from PIL import ExifTags, Image

from service.inference import OnnxDetector, SessionConfig
from service.registry.registry import ModelRegistry

GPS = ExifTags.GPS
HEIGHT, WIDTH = 240, 320
SQUARE = 64  # one detector window in a 320x240 frame
FACE_AT, PLATE_AT = (32, 40), (208, 152)  # top-left (x, y), on the detector's stride
BLUE, YELLOW = (0, 0, 255), (255, 255, 0)  # helpers.MIX: face, licence_plate
LAT, LON = 47.3769, 8.5417


def square(at: tuple[int, int]) -> tuple[slice, slice]:
    x, y = at
    return slice(y, y + SQUARE), slice(x, x + SQUARE)


def scene(seed: int = 0) -> np.ndarray:
    """A smooth grey road (JPEG keeps it within a few levels), a striped blue 'face' and a striped
    yellow 'plate' (the stripes: the detail that must go). `seed` shifts the grey: distinct frames."""
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    grey = 40 + seed % 20 + xs * 30 / WIDTH + ys * 20 / HEIGHT
    img = np.repeat(grey[..., None], 3, axis=2).astype(np.uint8)
    for at, colour in ((FACE_AT, BLUE), (PLATE_AT, YELLOW)):
        patch = np.empty((SQUARE, SQUARE, 3), np.uint8)
        patch[:] = colour
        patch[::6] = np.where(np.array(colour) > 0, 170, 0)
        img[square(at)] = patch
    return img


def stripes(rgb: np.ndarray, at: tuple[int, int]) -> float:
    """Mean vertical change of the channel sum inside a square: ≥ 28 for the sharp stripes, ~0 once obscured."""
    return float(np.abs(np.diff(rgb[square(at)].astype(int).sum(axis=2), axis=0)).mean())


def exif_with_gps() -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SecretCam"
    exif[ExifTags.Base.BodySerialNumber] = "SN-0042"
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(
        {GPS.GPSLatitudeRef: "N", GPS.GPSLatitude: dms(LAT), GPS.GPSLongitudeRef: "E", GPS.GPSLongitude: dms(LON)}
    )
    return exif


def upload(rgb: np.ndarray) -> bytes:
    """A JPEG carrying everything a phone adds: EXIF with GPS and a serial number, an ICC profile, XMP."""
    plain = jpeg_bytes(rgb, exif=exif_with_gps())
    with Image.open(io.BytesIO(plain)) as img:
        out = io.BytesIO()
        xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">owner: Erika Muster</x:xmpmeta>'
        img.save(out, "JPEG", quality=95, exif=img.info["exif"], icc_profile=b"\0" * 128, xmp=xmp)
    return out.getvalue()


def metadata_of(jpeg: bytes) -> dict:
    """What a JPEG carries besides its pixels (the keys Pillow reports)."""
    with Image.open(io.BytesIO(jpeg)) as img:
        assert img.format == "JPEG"
        found = {k: v for k, v in img.info.items() if k not in ("jfif", "jfif_version", "jfif_unit", "jfif_density")}
        if img.getexif():
            found["exif_tags"] = dict(img.getexif())
        return found


def loaded(weights: Path) -> dict[str, OnnxDetector]:
    registry = ModelRegistry.discover([weights])
    registry.load_all(SessionConfig(intra_op_threads=1))
    return {name: entry.detector for name, entry in registry.entries.items() if entry.detector is not None}
