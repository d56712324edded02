"""Stored photos (frames, lost items): the bytes `PrivacyGuard.storable` made of an upload
(anonymised, re-encoded), never the uploaded bytes (docs/privacy.md).

They live in a frame store, named by the sha256 of the upload: a directory (the default, under
the data folder, or one that all replicas mount) or S3-compatible object storage
(`service.storage.object_store`); `STADTBLICK_FRAME_STORE` chooses (docs/scaling.md). The
database keeps each photo's key; which records still refer to a photo is its business, not the
store's.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Protocol

_SHA256 = re.compile(r"[0-9a-f]{64}")
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}


def image_key(sha256: str) -> str:
    """The key of the photo of the upload with this sha256 (kept in the database)."""
    if not _SHA256.fullmatch(sha256):
        raise ValueError("not a sha256 hex digest")
    return f"{sha256[:2]}/{sha256}.jpg"


class FrameStore(Protocol):
    """What the service does with stored photos. Every method raises `service.faults.FrameStoreUnavailable`
    (or, for a directory, the `OSError` of the disk) when it could not do it."""

    def save(self, sha256: str, jpeg: bytes) -> bool:
        """Store the photo of this upload unless it exists; True if this call stored it."""

    def read(self, key: str) -> bytes | None:
        """The photo's bytes, or None when there is none under this key."""

    def delete(self, key: str) -> None:
        """Remove the photo; one that is not there is no error."""

    def sweep_incoming(self, older_than_s: float = 3600.0) -> int:
        """Remove what writers killed mid-write left behind; returns how many."""


class DirectoryStore:
    """JPEG files under a directory (`<data_dir>/frames/` by default), written atomically.

    A file is written to a hidden `.incoming-*` name, synced, then hard-linked to its final name,
    which fails if that name exists: a reader (or a crash) never sees half a file there, and of
    two replicas storing the same photo at once exactly one is told it stored it (the other's
    rollback must not delete the photo the first one's record refers to). Leftovers of a killed
    process are swept at start-up (`sweep_incoming`); on a directory that several replicas share, only
    leftovers older than an hour, so another replica's write in progress is never one.
    """

    INCOMING = ".incoming-"

    def __init__(self, root: Path):
        self.root = root

    def save(self, sha256: str, jpeg: bytes) -> bool:
        target = self.root / image_key(sha256)
        if target.is_file():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=self.INCOMING, suffix=".jpg")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(jpeg)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, target)
            except OSError as exc:
                if exc.errno not in _NO_HARD_LINKS:
                    raise
                os.replace(tmp, target)  # e.g. an SMB share: last writer wins (docs/scaling.md)
        except FileExistsError:
            return False
        finally:
            Path(tmp).unlink(missing_ok=True)
        return True

    def read(self, key: str) -> bytes | None:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)

    def sweep_incoming(self, older_than_s: float = 3600.0) -> int:
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
