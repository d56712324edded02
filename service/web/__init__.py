"""The browser pages of the service (the map) and their static files, Leaflet vendored; Swagger UI
comes from the `fastapi-offline` package (Swagger UI 5: it renders OpenAPI 3.0 and 3.1).
Nothing is loaded from a CDN."""

from pathlib import Path

import fastapi_offline

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
SWAGGER_UI_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
SWAGGER_UI_URL = "/static/swagger-ui"  # where the app serves SWAGGER_UI_DIR
