"""Liveness, readiness, Prometheus metrics and service info."""

from __future__ import annotations

import onnxruntime as ort
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from service import __version__
from service.api.deps import State

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up (does not look at models)."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(state: State) -> JSONResponse:
    """200 once every detector was loaded (or failed to load with a recorded error)."""
    entries = state.registry.entries
    body = {
        "status": "ready" if state.ready.is_set() else "loading",
        "detectors": {n: ("ready" if e.ready else "unavailable" if e.error else "loading") for n, e in entries.items()},
    }
    return JSONResponse(body, 200 if state.ready.is_set() else 503)


@router.get("/metrics")
def metrics(state: State) -> Response:
    return Response(state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


@router.get("/info")
def info(state: State) -> dict:
    return {
        "name": "stadtblick",
        "version": __version__,
        "onnxruntime": ort.__version__,
        "providers": ort.get_available_providers(),
        "inference_workers": state.settings.workers,
        "weights_dirs": [str(p) for p in state.settings.weights_dirs],
        "detectors": sorted(state.registry.entries),
        "default_detectors": state.registry.default_names(),
    }
