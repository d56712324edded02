"""Road condition grades per segment of a drive, like commercial road surveys give them.

A drive's frame positions, in capture order, are cut into segments of about
`segment_length_m` along the track. Each damage record of the drive counts for its nearest
segment. The damage index is the severity-weighted damage count per 100 m of road, and the
grade is the school grade 1 (very good) ... 5 (urgent) whose threshold the index reaches:

    index = 100 * sum(weight[class] for damages on the segment) / max(length_m, segment_length_m / 2)
    grade = 1 + number of thresholds <= index

Short tail segments are merged into the previous one, and the length floor keeps a few
metres of track from turning one crack into an "urgent" grade.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from service.geo.geodesy import LonLat, distance_m, point_to_polyline_m

#: A damage farther than this from every segment of its drive is not graded (off the track).
MAX_DAMAGE_OFFSET_M = 20.0
#: A jump this many segment lengths between two frames starts a new stretch (GPS loss, a detour).
GAP_FACTOR = 3.0
_TOLERANCE_M = 0.01  # rounding of positions must not push a cut one frame further


@dataclass(frozen=True)
class GradingRules:
    segment_length_m: float = 50.0
    weights: Mapping[str, float] = field(default_factory=lambda: {"pothole": 3.0, "crack": 1.0})
    thresholds: Sequence[float] = (0.5, 2.0, 4.0, 8.0)

    def __post_init__(self) -> None:
        t = list(self.thresholds)
        if len(t) != 4 or t != sorted(t) or t[0] < 0:
            raise ValueError(f"grade thresholds must be 4 ascending non-negative numbers, got {t}")
        if any(w < 0 for w in self.weights.values()):
            raise ValueError("damage weights must not be negative")
        if self.segment_length_m <= 0:
            raise ValueError("segment_length_m must be positive")

    def damage_index(self, weight_sum: float, length_m: float) -> float:
        return 100.0 * weight_sum / max(length_m, self.segment_length_m / 2)

    def grade(self, index: float) -> int:
        return 1 + sum(index >= t for t in self.thresholds)


@dataclass(frozen=True)
class TrackPoint:
    point: LonLat
    time: datetime | None


@dataclass
class Segment:
    seq: int
    points: list[TrackPoint]
    length_m: float

    @property
    def line(self) -> list[LonLat]:
        return [p.point for p in self.points]


@dataclass(frozen=True)
class Damage:
    point: LonLat
    class_name: str


@dataclass(frozen=True)
class GradedSegment:
    segment: Segment
    damage_count: int
    damage_index: float
    grade: int


def split_track(track: Sequence[TrackPoint], segment_length_m: float) -> list[Segment]:
    """Cut a track into segments of about `segment_length_m`; consecutive segments share a point."""
    stretches: list[list[Segment]] = []
    current: list[TrackPoint] = []
    length = 0.0
    for p in track:
        if current and p.point == current[-1].point:
            continue
        step = distance_m(current[-1].point, p.point) if current else 0.0
        if current and step > GAP_FACTOR * segment_length_m:
            _close(stretches, current, length, segment_length_m, new_stretch=True)
            current, length, step = [], 0.0, 0.0
        if not current and not stretches:
            stretches.append([])
        current.append(p)
        length += step
        if length >= segment_length_m - _TOLERANCE_M:
            stretches[-1].append(Segment(0, current, length))
            current, length = [p], 0.0
    _close(stretches, current, length, segment_length_m, new_stretch=False)
    segments = [s for stretch in stretches for s in stretch]
    for seq, s in enumerate(segments):
        s.seq = seq
    return segments


def _close(
    stretches: list[list[Segment]], tail: list[TrackPoint], length: float, segment_length_m: float, new_stretch: bool
) -> None:
    """End a stretch: a short tail joins the stretch's last segment, a longer one is its own."""
    if len(tail) >= 2:
        last = stretches[-1][-1] if stretches and stretches[-1] else None
        if last is not None and length < segment_length_m / 2:
            last.points.extend(tail[1:])
            last.length_m += length
        else:
            stretches[-1].append(Segment(0, tail, length))
    if new_stretch:
        stretches.append([])


def grade_segments(segments: Sequence[Segment], damages: Sequence[Damage], rules: GradingRules) -> list[GradedSegment]:
    """Give every damage to its nearest segment, then grade each segment."""
    weight_sums = [0.0] * len(segments)
    counts = [0] * len(segments)
    for d in damages:
        weight = rules.weights.get(d.class_name)
        if weight is None or not segments:
            continue
        dists = [point_to_polyline_m(d.point, s.line) for s in segments]
        best = min(range(len(segments)), key=dists.__getitem__)
        if dists[best] <= MAX_DAMAGE_OFFSET_M:
            weight_sums[best] += weight
            counts[best] += 1
    out = []
    for s, w, n in zip(segments, weight_sums, counts, strict=True):
        index = rules.damage_index(w, s.length_m)
        out.append(GradedSegment(s, n, round(index, 3), rules.grade(index)))
    return out
