"""Following detections across frames so that one pothole passing through the view is one event.

Greedy association per detector and class. A detection continues a track when one of three
cues says it is the same object: the boxes overlap (IoU), their centres are close in the
image, or their estimated ground positions are close (robust when frames are metres apart
and a near object jumps across the image). A track ends after `max_missed` analysed frames
without its object; only tracks seen `min_hits` times become events (one-frame flickers do
not). Tracks keep running aggregates and one reference to their best frame, never a history,
so memory stays bounded however long an object stays in view.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np

from service.geo.geodesy import LonLat, distance_m
from service.geo.ground_position import PROJECTED, GroundPosition


@dataclass(frozen=True)
class TrackerConfig:
    min_iou: float = 0.2
    centroid_gate: float = 0.1  # share of the image diagonal
    ground_gate_m: float = 3.0
    max_missed: int = 2
    min_hits: int = 2
    max_tracks: int = 256  # bound on open tracks; the stalest ends first


@dataclass(frozen=True)
class Pose:
    """Camera position and heading when a frame was taken (None where the GPS has none)."""

    position: LonLat | None
    heading_deg: float | None


@dataclass(frozen=True)
class Sighting:
    detector: str
    class_id: int
    class_name: str
    labels: tuple[str, str]  # German, English (the class data of the detections)
    xyxy: tuple[float, float, float, float]
    confidence: float
    ground: GroundPosition | None
    frame_index: int
    time: datetime
    pose: Pose
    pixels: np.ndarray  # the frame it was seen in (a reference, not a copy)


@dataclass
class Track:
    id: int
    best: Sighting
    first_index: int
    first_time: datetime
    last: Sighting
    hits: int = 1
    missed: int = 0
    _ground_sum: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # lon, lat, count (projected only)

    @classmethod
    def start(cls, track_id: int, s: Sighting) -> Track:
        track = cls(track_id, s, s.frame_index, s.time, s)
        track._add_ground(s)
        return track

    @property
    def key(self) -> tuple[str, int]:
        return self.best.detector, self.best.class_id

    @property
    def ground(self) -> LonLat | None:
        """Mean projected ground position of the sightings, None when none was projected."""
        lon, lat, n = self._ground_sum
        return LonLat(lon / n, lat / n) if n else None

    def add(self, s: Sighting) -> None:
        self.hits += 1
        self.missed = 0
        self._add_ground(s)
        if s.confidence > self.best.confidence:
            self.best = s
        self.last = replace(s, pixels=_NO_PIXELS)  # kept for matching only: one frame per track

    def _add_ground(self, s: Sighting) -> None:
        if s.ground is not None and s.ground.method == PROJECTED:
            self._ground_sum[0] += s.ground.point.lon
            self._ground_sum[1] += s.ground.point.lat
            self._ground_sum[2] += 1


class Tracker:
    def __init__(self, config: TrackerConfig):
        self.config = config
        self.active: list[Track] = []
        self._ids = itertools.count(1)

    def update(self, sightings: list[Sighting], image_size: tuple[int, int]) -> list[Track]:
        """Add one analysed frame's detections; returns the tracks that ended and qualify as events."""
        diagonal = math.hypot(*image_size)
        pairs = sorted(
            (cost, ti, si)
            for ti, track in enumerate(self.active)
            for si, s in enumerate(sightings)
            if track.key == (s.detector, s.class_id) and (cost := self._cost(track, s, diagonal)) < 1.0
        )
        used_tracks: set[int] = set()
        used_sightings: set[int] = set()
        for _, ti, si in pairs:
            if ti in used_tracks or si in used_sightings:
                continue
            self.active[ti].add(sightings[si])
            used_tracks.add(ti)
            used_sightings.add(si)
        ended = []
        for ti, track in enumerate(self.active):
            if ti not in used_tracks:
                track.missed += 1
                if track.missed > self.config.max_missed:
                    ended.append(track)
        self.active = [t for t in self.active if t not in ended]
        for si, s in enumerate(sightings):
            if si not in used_sightings:
                self.active.append(Track.start(next(self._ids), s))
        if len(self.active) > self.config.max_tracks:
            self.active.sort(key=lambda t: t.last.frame_index)
            ended.extend(self.active[: len(self.active) - self.config.max_tracks])
            self.active = self.active[len(self.active) - self.config.max_tracks :]
        return self._events(ended)

    def flush(self) -> list[Track]:
        """End every open track (the video ended)."""
        ended, self.active = self.active, []
        return self._events(ended)

    def _events(self, ended: list[Track]) -> list[Track]:
        return sorted((t for t in ended if t.hits >= self.config.min_hits), key=lambda t: t.id)

    def _cost(self, track: Track, s: Sighting, diagonal: float) -> float:
        """Below 1 when some cue accepts the pair; the smaller the surer."""
        c = self.config
        a, b = track.last.xyxy, s.xyxy
        costs = [(1.0 - iou(a, b)) / (1.0 - c.min_iou)]
        centre_dist = math.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2)
        costs.append(centre_dist / (c.centroid_gate * diagonal))
        ground = track.ground
        if ground is not None and s.ground is not None and s.ground.method == PROJECTED:
            costs.append(distance_m(ground, s.ground.point) / c.ground_gate_m)
        return min(costs)


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


_NO_PIXELS = np.zeros((0, 0, 3), np.uint8)
