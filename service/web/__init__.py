"""The browser pages of the service (the map) and their static files, Leaflet vendored; Swagger UI
comes from the `swagger-ui-bundle` package. Nothing is loaded from a CDN."""

from pathlib import Path

from swagger_ui_bundle import swagger_ui_path

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
SWAGGER_UI_DIR = Path(swagger_ui_path)
SWAGGER_UI_URL = "/static/swagger-ui"  # where the app serves SWAGGER_UI_DIR
