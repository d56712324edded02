"""API keys: high-entropy secrets shown once, stored only as a SHA-256 digest.

A key reads ``sbk_<id>_<secret>``: the short public id finds the stored record, the digest of
the whole key is compared in constant time. A fast hash is enough here (unlike passwords):
the secret has 256 bits of entropy, so there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import Enum

PREFIX = "sbk"
_KEY = re.compile(rf"^{PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_\-]{{43}})$")


class Role(str, Enum):
    ADMIN = "admin"  # models, keys, audit, everything
    INSPECTOR = "inspector"  # detect, upload frames, read own jobs and frames
    DESK = "desk"  # lost-property register
    GIS = "gis"  # read-only detections, OGC API, exports


ROLES = tuple(Role)


@dataclass(frozen=True)
class Principal:
    """Whom a request acts for: the key's id and name (as the audit log shows it) and its role."""

    key_id: str
    name: str
    role: Role


#: The principal of every request when STADTBLICK_AUTH=disabled (local development only).
LOCAL_DEVELOPER = Principal(key_id="local", name="local-developer", role=Role.ADMIN)


@dataclass(frozen=True)
class NewKey:
    key_id: str
    secret: str  # the full key, shown once
    digest: str


def generate() -> NewKey:
    key_id = secrets.token_hex(6)
    secret = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    return NewKey(key_id, secret, digest(secret))


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id_of(key: str) -> str | None:
    """The public id of a well-formed key, or None (then there is nothing to look up)."""
    match = _KEY.match(key)
    return match.group(1) if match else None


def matches(key: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(key), stored_digest)
