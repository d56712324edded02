"""Timing helpers: warm-up, bounded iteration, interleaving, robust summaries.

Medians and ratios instead of means: background load on shared machines produces long
tails, and a ratio of two medians taken interleaved cancels most of the drift.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Budget:
    """How much to measure; `--quick` shrinks everything to a smoke test."""

    quick: bool
    warmup: int
    iters: int
    max_seconds: float
    requests: int
    throughput_requests: int
    reference_iters: int
    peak_size: int
    peak_reps: int
    val_max_images: int | None

    @classmethod
    def for_mode(cls, quick: bool) -> Budget:
        if quick:
            return cls(True, 1, 4, 8.0, 4, 4, 2, 512, 3, 8)
        return cls(False, 5, 50, 60.0, 30, 24, 10, 2048, 8, None)


@dataclass(frozen=True)
class Stats:
    """Summary of one latency series in milliseconds."""

    n: int
    p50_ms: float
    p95_ms: float
    min_ms: float
    max_ms: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(seconds: list[float]) -> Stats:
    if not seconds:
        return Stats(0, float("nan"), float("nan"), float("nan"), float("nan"))
    ms = np.asarray(seconds, dtype=np.float64) * 1000
    return Stats(
        n=len(ms),
        p50_ms=round(float(np.median(ms)), 3),
        p95_ms=round(float(np.percentile(ms, 95)), 3),
        min_ms=round(float(ms.min()), 3),
        max_ms=round(float(ms.max()), 3),
    )


def time_calls(fn: Callable[[], object], warmup: int, iters: int, max_seconds: float) -> list[float]:
    """Wall time of `iters` calls after `warmup` untimed ones; stops early after `max_seconds`."""
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    deadline = time.perf_counter() + max_seconds
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
        if time.perf_counter() > deadline:
            break
    return samples


def time_interleaved(
    fns: dict[str, Callable[[], object]], warmup: int, iters: int, max_seconds: float
) -> dict[str, list[float]]:
    """Alternate A, B, A, B ... so every variant sees the same background load (fair ratios)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    deadline = time.perf_counter() + max_seconds
    for _ in range(iters):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
        if time.perf_counter() > deadline:
            break
    return samples


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or not denominator or np.isnan(numerator) or np.isnan(denominator):
        return None
    return round(numerator / denominator, 3)
