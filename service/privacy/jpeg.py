"""Images leave the service as JPEG pixels only: no EXIF (GPS, device serials, owner names), no XMP,
no ICC profile, no comments -- whatever the upload carried."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

JPEG_QUALITY = 85


def clean_jpeg(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """A JPEG of the pixels and nothing else (Pillow writes only the JFIF header unless asked)."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality, optimize=True)
    return buffer.getvalue()
