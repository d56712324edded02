"""Stored frame photos: re-encoded pixels only, never the uploaded bytes.

The upload's EXIF/XMP (exact position, device serials, owner names) is dropped by
re-encoding the decoded pixels; the database keeps the position we chose to keep.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from PIL import Image

from service.imaging import DecodedImage

JPEG_QUALITY = 85


def prepare_for_storage(image: DecodedImage) -> bytes:
    """The bytes we are willing to keep of a frame: a metadata-free JPEG of the pixels.

    This is the one place every stored frame passes through: the privacy feature will blur
    faces and licence plates here, before anything reaches the disk.
    """
    buffer = io.BytesIO()
    Image.fromarray(image.pixels).save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


class FrameImageStore:
    """Content-addressed JPEG files under `<data_dir>/frames/`, written atomically."""

    def __init__(self, root: Path):
        self.root = root

    def save(self, sha256: str, jpeg: bytes) -> str:
        """Write (or keep) the image of the upload with this sha256; returns the path relative to the root."""
        relative = f"{sha256[:2]}/{sha256}.jpg"
        target = self.root / relative
        if target.is_file():
            return relative
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-", suffix=".jpg")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(jpeg)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return relative

    def path(self, relative: str) -> Path:
        return self.root / relative
