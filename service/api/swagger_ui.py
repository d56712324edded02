"""Swagger UI pages from the files of the `fastapi-offline` package (Swagger UI 5), served by the
service itself (no CDN: the docs work offline and load nothing from third parties).

Its ReDoc is not offered: ReDoc still fetches its logo from a CDN."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from service.web import SWAGGER_UI_DIR, SWAGGER_UI_URL

FAVICON = f"{SWAGGER_UI_URL}/favicon.png"


def swagger_ui_page(openapi_url: str, title: str, oauth2_redirect_url: str | None = None) -> HTMLResponse:
    """The Swagger UI page for the OpenAPI document at `openapi_url`."""
    return get_swagger_ui_html(
        openapi_url=openapi_url,
        title=title,
        swagger_js_url=f"{SWAGGER_UI_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER_UI_URL}/swagger-ui.css",
        swagger_favicon_url=FAVICON,
        oauth2_redirect_url=oauth2_redirect_url,
        swagger_ui_parameters={"validatorUrl": None},  # else a public host's page asks validator.swagger.io
    )


def mount_swagger_ui(app: FastAPI) -> None:
    """Serve the package's files under SWAGGER_UI_URL."""
    app.mount(SWAGGER_UI_URL, StaticFiles(directory=SWAGGER_UI_DIR), name="swagger-ui")
