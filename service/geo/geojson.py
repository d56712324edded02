"""GeoJSON (RFC 7946) building blocks shared by the OGC API, the exports and the vehicle runtime."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def iso(t: datetime | None) -> str | None:
    """RFC 3339 with `Z` for UTC, as feature properties carry times."""
    return None if t is None else t.isoformat().replace("+00:00", "Z")


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]}
