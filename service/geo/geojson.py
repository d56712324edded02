"""GeoJSON (RFC 7946) building blocks shared by the OGC API, the exports and the vehicle runtime."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from service.geo.precision import published


def iso(t: datetime | None) -> str | None:
    """RFC 3339 with `Z` for UTC, as feature properties carry times."""
    return None if t is None else t.isoformat().replace("+00:00", "Z")


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [published(lon), published(lat)]}


def line(coordinates: list[list[float]]) -> dict[str, Any]:
    return {"type": "LineString", "coordinates": [[published(lon), published(lat)] for lon, lat in coordinates]}
