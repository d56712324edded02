"""Infrastructure faults (full disk, read-only or locked database, unreachable database or frame
store) in words a client and an operator can act on, instead of an anonymous 500.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from sqlalchemy.exc import DatabaseError, DBAPIError, InterfaceError, OperationalError

_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}
_STORAGE_DENIED = {errno.EROFS, errno.EACCES, errno.EPERM}


class FrameStoreUnavailable(Exception):
    """The frame store (S3) could not be reached or refused the request; nothing was stored or deleted."""


@dataclass(frozen=True)
class Fault:
    status: int
    code: str
    message: str
    retry_after_s: int | None = None


def classify(exc: BaseException) -> Fault | None:
    """The fault behind an exception, or None for a plain bug."""
    if isinstance(exc, FrameStoreUnavailable):
        return Fault(503, "frame_store_unavailable", str(exc), 30)
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
        return Fault(507, "insufficient_storage", "the service's storage is full; nothing was stored")
    if isinstance(exc, OSError) and exc.errno in _STORAGE_DENIED:
        return Fault(503, "storage_unavailable", "the service's storage is read-only; nothing was stored", 30)
    if isinstance(exc, DBAPIError):
        detail = _database_fault(exc)
        if detail:
            return Fault(503, "database_unavailable", f"{detail}; nothing was changed, retry later", 5)
    return None


def _database_fault(exc: DBAPIError) -> str | None:
    text = str(exc.orig).lower()
    if "readonly" in text or "read-only" in text:
        return "the database is read-only"
    if "database is locked" in text or "could not obtain lock" in text:
        return "the database is locked by another writer"
    if "deleted or replaced" in text:
        return "the database file was deleted or replaced while the service ran (restore it and restart)"
    if isinstance(exc, (OperationalError, InterfaceError)) or type(exc) is DatabaseError or exc.connection_invalidated:
        return "the database cannot be reached or read"  # connection refused, damaged file, ...
    return None  # constraint violations and the like are bugs, not faults
