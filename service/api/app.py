"""The FastAPI application factory."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.base import RequestResponseEndpoint

from service import __version__
from service.api.errors import install_error_handlers
from service.api.routers import detect, exports, frames, health, models, ogc, ui
from service.api.state import ServiceState
from service.config import Settings
from service.web import STATIC_DIR

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, load_in_background: bool = True) -> FastAPI:
    """Build the app; models load in a background thread so `/healthz` answers at once."""
    state = ServiceState.create(settings or Settings())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.open_storage()
        if load_in_background:
            threading.Thread(target=state.load_models, name="model-loader", daemon=True).start()
        else:
            state.load_models()
        yield
        state.executor.shutdown(wait=False, cancel_futures=True)
        state.database.dispose()

    app = FastAPI(
        title="stadtblick",
        version=__version__,
        description="Image recognition for city infrastructure: road damage, graffiti, lost property, "
        'anonymisation. Errors are JSON: `{"error": {"code": ..., "message": ...}}`.',
        lifespan=lifespan,
    )
    app.state.service = state
    install_error_handlers(app)

    @app.middleware("http")
    async def count_requests(request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        state.metrics.requests.labels(request.method, path, str(response.status_code)).inc()
        return response

    for module in (detect, frames, exports, ogc, ui, models, health):
        app.include_router(module.router)
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
    return app
