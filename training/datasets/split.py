"""Grouped, class-stratified train/val split.

Whole duplicate groups go to one side; groups holding rare classes are placed first, each to
the side whose target for the group's rarest class is least filled (then the image count),
so a class with five boxes still lands in val.
"""

from __future__ import annotations

import random
from collections import Counter

from training.datasets.layout import LabelledImage

IMAGES_KEY = "\0images"  # pseudo-class: keeps the image count (incl. backgrounds) near target


def grouped_stratified_split(
    images: list[LabelledImage], groups: list[int], val_fraction: float = 0.2, seed: int = 0
) -> list[str]:
    """Return "train" or "val" per image; `val_fraction` 1 puts all in val (a held-out test source)."""
    if val_fraction == 1.0:
        return ["val"] * len(images)
    if not 0.0 < val_fraction < 1.0:
        raise ValueError("val_fraction must be between 0 and 1 (or 1: everything in val)")
    members: dict[int, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    counts = {g: _counts(images, idx) for g, idx in members.items()}
    total: Counter = sum(counts.values(), Counter())
    order = list(members)
    random.Random(seed).shuffle(order)
    rarest = {
        g: min((c for c in counts[g] if c != IMAGES_KEY), key=lambda c: total[c], default=IMAGES_KEY) for g in order
    }
    order.sort(key=lambda g: total[rarest[g]] if rarest[g] != IMAGES_KEY else 10**9)
    share = {"train": 1.0 - val_fraction, "val": val_fraction}
    placed = {"train": Counter(), "val": Counter()}

    def missing(side: str, c: str) -> float:
        """Fraction of the side's target for class `c` still unfilled."""
        target = share[side] * total[c]
        return (target - placed[side][c]) / target

    assignment: dict[int, str] = {}
    for g in order:
        side = max(share, key=lambda s: (missing(s, rarest[g]), missing(s, IMAGES_KEY), s == "train"))
        placed[side].update(counts[g])
        assignment[g] = side
    return [assignment[g] for g in groups]


def _counts(images: list[LabelledImage], idx: list[int]) -> Counter:
    c: Counter = Counter({IMAGES_KEY: len(idx)})
    for i in idx:
        c.update(b.label for b in images[i].boxes)
    return c
