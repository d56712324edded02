"""Resident memory of the server process: after loading every detector, and at its peak under load.

Vehicle computers have little RAM; RSS (not the Python heap) is what the OS has to find,
including ONNX Runtime's arenas and the decoded images of concurrent requests.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import TracebackType

import psutil

MB = 2**20


def rss_mb(pid: int) -> float | None:
    try:
        return round(psutil.Process(pid).memory_info().rss / MB, 1)
    except psutil.Error:
        return None


def high_water_mb(pid: int) -> float | None:
    """The kernel's own peak RSS (VmHWM) since the process started; Linux only."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) * 1024 / MB, 1)
    except (OSError, ValueError):
        pass
    return None


class RssSampler:
    """Samples a process's RSS in a background thread; `peak_mb` is the highest value seen."""

    def __init__(self, pid: int, interval_s: float = 0.05):
        self.pid = pid
        self.interval_s = interval_s
        self.peak_mb: float | None = None
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            value = rss_mb(self.pid)
            if value is not None:
                self.peak_mb = value if self.peak_mb is None else max(self.peak_mb, value)
                self.samples += 1
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process, to see how much of the 2 cores each side used."""
    try:
        times = psutil.Process(pid).cpu_times()
        return times.user + times.system
    except psutil.Error:
        return None


def wait_a_moment(seconds: float = 0.2) -> None:
    """Let the allocator settle before an idle RSS reading."""
    time.sleep(seconds)
