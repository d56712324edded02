"""GET /docs: Swagger UI for the service's OpenAPI document, from files the service serves itself."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse

from service import __version__
from service.api.swagger_ui import swagger_ui_page

router = APIRouter(include_in_schema=False)


@router.get("/docs")
def docs() -> HTMLResponse:
    return swagger_ui_page("/openapi.json", f"stadtblick {__version__}", oauth2_redirect_url="/docs/oauth2-redirect")


@router.get("/docs/oauth2-redirect")
def oauth2_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()
