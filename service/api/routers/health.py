"""Liveness, readiness, Prometheus metrics and service info."""

from __future__ import annotations

import logging
from typing import Any

import onnxruntime as ort
from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from service import __version__
from service.api.auth import AUTH_RESPONSES, Credentials, CurrentPrincipal, allow, check_role, identify
from service.api.deps import State
from service.auth import ROLES, Role
from service.faults import classify

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up (does not look at models)."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(state: State) -> JSONResponse:
    """200 once every detector was loaded (or failed to load with a recorded error) and the
    database answers; 503 with the reason otherwise."""
    entries = state.registry.entries
    body: dict[str, Any] = {
        "status": "ready" if state.ready.is_set() else "loading",
        "detectors": {n: ("ready" if e.ready else "unavailable" if e.error else "loading") for n, e in entries.items()},
        "database": "ok",
    }
    try:
        state.database.check()
    except (SQLAlchemyError, OSError) as exc:
        fault = classify(exc)
        log.error("readiness: database check failed: %s", exc)
        body["status"] = "database_unavailable"
        body["database"] = fault.message if fault else "the database check failed; see the service log"
    return JSONResponse(body, 200 if body["status"] == "ready" else 503)


def metrics_access(state: State, credentials: Credentials) -> None:
    """/metrics is open unless STADTBLICK_OPEN_METRICS=false; then it needs an admin key."""
    if not state.settings.open_metrics:
        check_role(identify(state, credentials), frozenset({Role.ADMIN}))


@router.get("/metrics", dependencies=[Depends(metrics_access)])
def metrics(state: State) -> Response:
    return Response(state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


@router.get("/info", dependencies=[allow(*ROLES)], responses=AUTH_RESPONSES)
def info(state: State, principal: CurrentPrincipal) -> dict:
    """Versions and detectors; the weights folders (server paths) for admins only."""
    about = {
        "name": "stadtblick",
        "version": __version__,
        "onnxruntime": ort.__version__,
        "providers": ort.get_available_providers(),
        "inference_workers": state.settings.workers,
        "detectors": sorted(state.registry.entries),
        "default_detectors": state.registry.default_names(),
    }
    if principal.role is Role.ADMIN:
        about["weights_dirs"] = [str(p) for p in state.settings.weights_dirs]
    return about
