"""Content hashes for duplicate detection: SHA-256 for exact copies, dHash for near-duplicates.

Near-duplicates (burst shots, re-encoded or resized copies) must never straddle train and
val, or val measures memory instead of generalisation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

DEFAULT_MAX_DISTANCE = 6  # of 64 dHash bits; resized/re-encoded copies stay well below


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dhash(path: Path, size: int = 8) -> int | None:
    """Difference hash: sign of horizontal gradients of a 9x8 grey thumbnail; None if unreadable."""
    try:
        with Image.open(path) as im:
            grey = np.asarray(im.convert("L").resize((size + 1, size), Image.Resampling.LANCZOS), np.int16)
    except (OSError, UnidentifiedImageError, ValueError):
        return None
    bits = (grey[:, 1:] > grey[:, :-1]).flatten()
    return int(np.packbits(bits).view(">u8")[0])


def near_duplicate_pairs(hashes: list[int | None], max_distance: int) -> list[tuple[int, int]]:
    """Index pairs whose dHashes differ in at most `max_distance` bits (vectorised per row)."""
    idx = np.array([i for i, h in enumerate(hashes) if h is not None], dtype=np.int64)
    values = np.array([hashes[i] for i in idx], dtype=np.uint64)
    pairs = []
    for k in range(len(values) - 1):
        dist = np.bitwise_count(values[k + 1 :] ^ values[k])
        pairs.extend((int(idx[k]), int(idx[k + 1 + j])) for j in np.nonzero(dist <= max_distance)[0])
    return pairs


def groups_from_pairs(n: int, pairs: list[tuple[int, int]]) -> list[int]:
    """Connected components (union-find): a group id per item, so chains of near-copies stay together."""
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        parent[find(a)] = find(b)
    return [find(i) for i in range(n)]


def duplicate_groups(
    paths: list[Path], max_distance: int = DEFAULT_MAX_DISTANCE, track: Callable[..., Iterable] = lambda it, **_: it
) -> list[int]:
    """Group id per image: exact and near-duplicates share one."""
    hashes = [dhash(p) for p in track(paths, description="hashing images")]
    return groups_from_pairs(len(paths), near_duplicate_pairs(hashes, max_distance))
