"""Stored frame photos: anonymised, re-encoded pixels only, never the uploaded bytes.

Faces and licence plates are obscured, and the upload's EXIF/XMP/ICC (exact position, device
serials, owner names) is dropped by re-encoding the pixels; the database keeps the position we
chose to keep (docs/privacy.md).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from pathlib import Path

from service.imaging import DecodedImage
from service.privacy import Anonymiser
from service.privacy.jpeg import clean_jpeg

_SHA256 = re.compile(r"[0-9a-f]{64}")


def prepare_for_storage(image: DecodedImage, anonymiser: Anonymiser | None) -> bytes:
    """The bytes we are willing to keep of an image: its anonymised pixels as a metadata-free JPEG.

    Every stored image passes through here. `anonymiser` is None only where anonymisation was
    explicitly switched off (`PrivacyGuard.for_storage` decides).
    """
    pixels = image.pixels if anonymiser is None else anonymiser.anonymise(image.pixels).pixels
    return clean_jpeg(pixels)


class FrameImageStore:
    """Content-addressed JPEG files under `<data_dir>/frames/`, written atomically.

    A file is written to a hidden `.incoming-*` name, synced, then renamed: a reader (or a
    crash) never sees half a file under the final name. Leftovers of a killed process are
    swept at start-up (`sweep_incoming`).
    """

    INCOMING = ".incoming-"

    def __init__(self, root: Path):
        self.root = root

    @staticmethod
    def relative(sha256: str) -> str:
        if not _SHA256.fullmatch(sha256):
            raise ValueError("not a sha256 hex digest")
        return f"{sha256[:2]}/{sha256}.jpg"

    def save(self, sha256: str, jpeg: bytes) -> bool:
        """Write the image of the upload with this sha256 unless it exists; True if this call wrote it."""
        target = self.root / self.relative(sha256)
        if target.is_file():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=self.INCOMING, suffix=".jpg")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(jpeg)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return True

    def discard(self, sha256: str) -> None:
        """Remove a file this process just wrote for a transaction that then failed."""
        (self.root / self.relative(sha256)).unlink(missing_ok=True)

    def path(self, relative: str) -> Path:
        return self.root / relative

    def sweep_incoming(self, older_than_s: float = 3600.0) -> int:
        """Delete temporary files a killed writer left behind; returns how many."""
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - older_than_s
        removed = 0
        for leftover in self.root.glob(f"*/{self.INCOMING}*"):
            with contextlib.suppress(FileNotFoundError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
                    removed += 1
        return removed
