"""A GPS track: where the vehicle was, which way it went and how far it had driven at any instant.

Positions are interpolated linearly between fixes (fixes are a second or less apart, metres
to tens of metres: the local error is far below GPS noise). The heading is the receiver's
course over ground when the log has one, else the bearing of the track around that instant.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime

from service.geo.geodesy import LonLat, bearing_deg, distance_m

MIN_HEADING_BASE_M = 1.0  # a shorter stretch of track gives no usable bearing (standing still, GPS jitter)
MAX_HEADING_WINDOW_S = 32.0


@dataclass(frozen=True)
class Fix:
    time: datetime  # timezone-aware
    point: LonLat
    heading_deg: float | None = None  # course over ground, when the receiver logged one


class GpsTrack:
    def __init__(self, fixes: list[Fix], extrapolate_s: float = 0.0):
        """`extrapolate_s`: answer this long past the last fix, continuing its motion (live sources,
        where the fix for a frame arrives after the frame)."""
        self.extrapolate_s = extrapolate_s
        self.fixes: list[Fix] = []
        self._times: list[float] = []
        self._odometer: list[float] = []
        self.extend(sorted(fixes, key=lambda f: f.time))

    def extend(self, fixes: list[Fix]) -> None:
        """Append newer fixes (a growing log); fixes not after the last one are ignored."""
        for fix in fixes:
            if self.fixes and fix.time <= self.fixes[-1].time:
                continue
            step = distance_m(self.fixes[-1].point, fix.point) if self.fixes else 0.0
            self._odometer.append((self._odometer[-1] if self._odometer else 0.0) + step)
            self._times.append(fix.time.timestamp())
            self.fixes.append(fix)

    @property
    def start(self) -> datetime:
        return self.fixes[0].time

    @property
    def end(self) -> datetime:
        return self.fixes[-1].time

    @property
    def length_m(self) -> float:
        return self._odometer[-1]

    def position_at(self, t: datetime) -> LonLat | None:
        """Interpolated position; None outside the track's time span."""
        located = self._locate(t.timestamp())
        if located is None:
            return None
        return self._interpolate(*located)

    def distance_at(self, t: datetime) -> float | None:
        """Metres driven since the first fix; None outside the track's time span."""
        located = self._locate(t.timestamp())
        if located is None:
            return None
        i, frac = located
        j = min(i + 1, len(self.fixes) - 1)
        return self._odometer[i] + (self._odometer[j] - self._odometer[i]) * frac

    def heading_at(self, t: datetime) -> float | None:
        """Degrees clockwise from north: the logged course, else the track's own bearing."""
        ts = t.timestamp()
        located = self._locate(ts)
        if located is None:
            return None
        i, frac = located
        h0, h1 = self.fixes[i].heading_deg, self.fixes[min(i + 1, len(self.fixes) - 1)].heading_deg
        if h0 is not None and h1 is not None:
            return (h0 + (((h1 - h0) + 180.0) % 360.0 - 180.0) * frac) % 360.0
        window = 1.0
        while window <= MAX_HEADING_WINDOW_S:
            a = self._point_at(max(ts - window, self._times[0]))
            b = self._point_at(min(ts + window, self._times[-1]))
            if distance_m(a, b) >= MIN_HEADING_BASE_M:
                return bearing_deg(a, b)
            window *= 2
        return None

    def _point_at(self, ts: float) -> LonLat:
        return self._interpolate(*(self._locate(ts) or (0, 0.0)))

    def _interpolate(self, i: int, frac: float) -> LonLat:
        a, b = self.fixes[i].point, self.fixes[min(i + 1, len(self.fixes) - 1)].point
        return LonLat(a.lon + (b.lon - a.lon) * frac, a.lat + (b.lat - a.lat) * frac)

    def _locate(self, ts: float) -> tuple[int, float] | None:
        """(index of the fix at or before `ts`, fraction of the way to the next one; above 1
        when extrapolating past the last fix)."""
        times = self._times
        if not times or ts < times[0] or ts > times[-1] + self.extrapolate_s:
            return None
        if len(times) == 1:
            return (0, 0.0) if ts == times[0] else None
        i = min(max(bisect.bisect_right(times, ts) - 1, 0), len(times) - 2)
        return i, (ts - times[i]) / (times[i + 1] - times[i])
