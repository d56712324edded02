"""Stored photos (frames, lost items) as files: the bytes `PrivacyGuard.storable` made of an
upload (anonymised, re-encoded), never the uploaded bytes (docs/privacy.md)."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from pathlib import Path

_SHA256 = re.compile(r"[0-9a-f]{64}")


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
