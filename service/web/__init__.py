"""The browser pages of the service (the map) and their static files, Leaflet vendored."""

from pathlib import Path

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
