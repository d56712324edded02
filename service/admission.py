"""Admission control: a bounded number of memory-holding tasks (uploads waiting for inference,
batch jobs); one more is refused at once instead of queueing without bound.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Overloaded(RuntimeError):
    """Every slot is taken: the caller should retry after `retry_after_s` seconds."""

    def __init__(self, what: str, retry_after_s: int):
        super().__init__(f"too many {what} in progress; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class Admission:
    """A counter with a capacity, safe to share between the event loop and worker threads."""

    def __init__(self, what: str, capacity: int, retry_after_s: int = 2):
        self.what, self.capacity, self.retry_after_s = what, capacity, retry_after_s
        self._in_use = 0
        self._lock = threading.Lock()

    @property
    def in_use(self) -> int:
        return self._in_use

    def acquire(self) -> None:
        with self._lock:
            if self._in_use >= self.capacity:
                raise Overloaded(self.what, self.retry_after_s)
            self._in_use += 1

    def release(self) -> None:
        with self._lock:
            self._in_use -= 1

    @contextmanager
    def slot(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()
