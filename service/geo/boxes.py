"""Geographic boxes in degrees (a pixel box is `service.schemas.BBox`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GeoBox:
    """WGS84 (CRS84) box; min_lon > max_lon means it crosses the antimeridian."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float
