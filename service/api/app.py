"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.base import RequestResponseEndpoint

from service import __version__
from service.api import access_log
from service.api.body_limit import BodyLimitMiddleware
from service.api.errors import document_errors, install_error_handlers
from service.api.public_url import PublicUrlMiddleware
from service.api.routers import (
    anonymize,
    audit,
    detect,
    docs,
    exports,
    frames,
    health,
    lost_items,
    models,
    ogc,
    review,
    ui,
)
from service.api.security_headers import SecurityHeadersMiddleware
from service.api.state import ServiceState
from service.api.swagger_ui import mount_swagger_ui
from service.config import Settings
from service.web import STATIC_DIR

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, load_in_background: bool = True) -> FastAPI:
    """Build the app; models load in a background thread so `/healthz` answers at once.

    Raises `UnsafeConfiguration` for authentication disabled on a host other than loopback.
    """
    settings = settings or Settings()
    settings.check_auth_binding(settings.host)
    if settings.auth == "disabled":
        log.warning("authentication is DISABLED (STADTBLICK_AUTH=disabled): every request acts as admin")
    state = ServiceState.create(settings)
    access_log.install()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.open_storage()
        if load_in_background:
            threading.Thread(target=state.load_models, name="model-loader", daemon=True).start()
        else:
            state.load_models()
        retention = asyncio.create_task(state.enforce_retention(), name="retention")
        yield
        retention.cancel()
        state.executor.shutdown(wait=False, cancel_futures=True)
        state.background.shutdown(wait=False, cancel_futures=True)
        state.database.dispose()

    app = FastAPI(
        title="stadtblick",
        version=__version__,
        description="Image recognition for city infrastructure: road damage, graffiti, lost property, "
        'anonymisation. Errors are JSON: `{"error": {"code": ..., "message": ...}}`.',
        lifespan=lifespan,
        docs_url=None,  # /docs: routers.docs, from local files instead of a CDN
        redoc_url=None,  # ReDoc loads its logo from a CDN
    )
    app.state.service = state
    install_error_handlers(app)
    document_errors(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(PublicUrlMiddleware, public_url=settings.public_url)
    app.add_middleware(SecurityHeadersMiddleware, settings=settings)

    @app.middleware("http")
    async def count_requests(request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        state.metrics.requests.labels(request.method, path, str(response.status_code)).inc()
        return response

    for module in (detect, anonymize, frames, lost_items, exports, ogc, review, ui, models, audit, health, docs):
        app.include_router(module.router)
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
    mount_swagger_ui(app)
    return app
