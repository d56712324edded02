"""Small-distance geodesy on WGS84 lon/lat, in plain Python so SQLite and PostgreSQL agree.

Everything here works on distances of metres to a few kilometres (one drive, one road
segment), where a local equirectangular projection is accurate to well under a percent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class LonLat:
    lon: float
    lat: float


def distance_m(a: LonLat, b: LonLat) -> float:
    """Great-circle (haversine) distance."""
    phi1, phi2 = math.radians(a.lat), math.radians(b.lat)
    dphi, dlmb = phi2 - phi1, math.radians(b.lon - a.lon)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def bearing_deg(a: LonLat, b: LonLat) -> float:
    """Initial great-circle bearing from `a` to `b`, degrees clockwise from north in [0, 360)."""
    phi1, phi2 = math.radians(a.lat), math.radians(b.lat)
    dlmb = math.radians(b.lon - a.lon)
    y = math.sin(dlmb) * math.cos(phi2)
    x = math.cos(phi1) * math.sin(phi2) - math.sin(phi1) * math.cos(phi2) * math.cos(dlmb)
    return math.degrees(math.atan2(y, x)) % 360.0


def offset(origin: LonLat, bearing_deg: float, dist_m: float) -> LonLat:
    """The point `dist_m` from `origin` towards `bearing_deg` (clockwise from north)."""
    b = math.radians(bearing_deg)
    north, east = dist_m * math.cos(b), dist_m * math.sin(b)
    lat = origin.lat + math.degrees(north / EARTH_RADIUS_M)
    lon = origin.lon + math.degrees(east / (EARTH_RADIUS_M * math.cos(math.radians(origin.lat))))
    return LonLat(lon=(lon + 540.0) % 360.0 - 180.0, lat=lat)


def degree_box(center: LonLat, radius_m: float) -> tuple[float, float, float, float]:
    """(min_lon, min_lat, max_lon, max_lat) enclosing a circle: a cheap SQL prefilter."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    dlon = math.degrees(radius_m / (EARTH_RADIUS_M * max(math.cos(math.radians(center.lat)), 1e-6)))
    return center.lon - dlon, center.lat - dlat, center.lon + dlon, center.lat + dlat


def point_to_polyline_m(point: LonLat, line: list[LonLat]) -> float:
    """Shortest distance from a point to a polyline, in a local metric frame around the point."""
    scale = math.cos(math.radians(point.lat))

    def xy(p: LonLat) -> tuple[float, float]:
        return (
            math.radians(p.lon - point.lon) * EARTH_RADIUS_M * scale,
            math.radians(p.lat - point.lat) * EARTH_RADIUS_M,
        )

    best = math.inf
    pts = [xy(p) for p in line]
    for (x1, y1), (x2, y2) in zip(pts, pts[1:] or pts, strict=False):
        dx, dy = x2 - x1, y2 - y1
        length2 = dx * dx + dy * dy
        t = 0.0 if length2 == 0 else max(0.0, min(1.0, -(x1 * dx + y1 * dy) / length2))
        best = min(best, math.hypot(x1 + t * dx, y1 + t * dy))
    return best
