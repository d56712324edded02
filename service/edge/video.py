"""Frames from a video file, a camera or an RTSP stream, timed on the GPS clock and sampled.

Only sampled frames are decoded (`grab` advances the stream cheaply, `retrieve` decodes), and
frames reach the detectors through a short bounded queue filled by a reader thread, so an
hour-long video is streamed, never held, while decoding overlaps inference.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Protocol

import cv2
import numpy as np

from service.edge.track import GpsTrack

QUEUE_DEPTH = 4


@dataclass(frozen=True)
class Frame:
    index: int  # position in the stream, from 0
    time: datetime  # on the GPS clock
    rgb: np.ndarray


@dataclass
class ReadStats:
    """Updated by the reader thread, read by the progress display."""

    grabbed: int = 0
    total: int | None = None  # frame count of a file; None for live sources
    skipped_no_gps: int = 0  # frames outside the GPS track's time span


@dataclass(frozen=True)
class VideoClock:
    """When a frame was taken: the video's start plus its offset in the video, or the wall
    clock for live sources; `offset_s` corrects the camera's clock to the GPS clock."""

    start: datetime | None  # None: a live source
    fps: float
    offset_s: float = 0.0

    def time_of(self, index: int) -> datetime:
        base = datetime.now(timezone.utc) if self.start is None else self.start + timedelta(seconds=index / self.fps)
        return base + timedelta(seconds=self.offset_s)


class Sampler(Protocol):
    def take(self, t: datetime) -> bool: ...


@dataclass
class DistanceSampler:
    """One frame every `every_m` metres driven (none while standing, none outside the track)."""

    track: GpsTrack
    every_m: float
    stats: ReadStats
    _last: float | None = field(default=None, init=False)

    def take(self, t: datetime) -> bool:
        odometer = self.track.distance_at(t)
        if odometer is None:
            self.stats.skipped_no_gps += 1
            return False
        if self._last is None or odometer - self._last >= self.every_m:
            self._last = odometer
            return True
        return False


@dataclass
class TimeSampler:
    """One frame every `every_s` seconds (no GPS, or sampling by time asked for)."""

    every_s: float
    _last: datetime | None = field(default=None, init=False)

    def take(self, t: datetime) -> bool:
        if self._last is None or (t - self._last).total_seconds() >= self.every_s - 1e-6:
            self._last = t
            return True
        return False


def is_live(source: str) -> bool:
    return source.isdigit() or "://" in source


def open_capture(source: str) -> cv2.VideoCapture:
    """A camera index (`0`), a stream URL (`rtsp://...`) or a video file."""
    capture = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not capture.isOpened():
        raise OSError(f"cannot open video source {source}")
    return capture


def frame_rate(capture: cv2.VideoCapture) -> float:
    fps = capture.get(cv2.CAP_PROP_FPS)
    return fps if fps and fps > 0 else 30.0


def read_frames(
    capture: cv2.VideoCapture, clock: VideoClock, sampler: Sampler, stats: ReadStats
) -> Generator[Frame, None, None]:
    """Sampled frames in order, RGB; the capture is released when the iterator ends."""
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    stats.total = count if count > 0 and clock.start is not None else None
    index = 0
    try:
        while capture.grab():
            stats.grabbed = index + 1
            t = clock.time_of(index)
            if sampler.take(t):
                ok, bgr = capture.retrieve()
                if ok:
                    yield Frame(index, t, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            index += 1
    finally:
        capture.release()


def prefetched(frames: Generator[Frame, None, None], depth: int = QUEUE_DEPTH) -> Iterator[Frame]:
    """Read `frames` in a thread, at most `depth` ahead; errors of the reader are raised here."""
    items: queue.Queue[Frame | BaseException | None] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Frame | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def reader() -> None:
        try:
            for frame in frames:
                if not put(frame):
                    return
            put(None)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(exc)
        finally:
            frames.close()

    thread = threading.Thread(target=reader, name="frame-reader", daemon=True)
    thread.start()
    try:
        while (item := items.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
