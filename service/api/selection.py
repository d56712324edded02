"""Resolving the `detectors` query parameter against the registry."""

from __future__ import annotations

from service.api.errors import ApiError
from service.auth import Principal, Role
from service.inference import OnnxDetector
from service.registry.registry import ModelRegistry, ModelUnavailable

#: What other roles read instead of a load error: those name files on the server.
HIDDEN_REASON = "the model could not be loaded; administrators see why in GET /v1/models"


def load_error(error: str | None, reader: Principal) -> str | None:
    """A detector's load error as `reader` may see it."""
    return error if error is None or reader.role is Role.ADMIN else HIDDEN_REASON


def select_detectors(registry: ModelRegistry, requested: str | None, reader: Principal) -> list[OnnxDetector]:
    names = [n.strip() for n in requested.split(",") if n.strip()] if requested else registry.default_names()
    if not names:
        raise ApiError(503, "no_detectors", "no detector is available; see GET /v1/models")
    unknown = [n for n in names if n not in registry.entries]
    if unknown:
        known = ", ".join(sorted(registry.entries)) or "none"
        raise ApiError(404, "unknown_detector", f"unknown detector(s) {', '.join(unknown)}; known: {known}")
    try:
        return [registry.get(n) for n in dict.fromkeys(names)]
    except ModelUnavailable as exc:
        raise ApiError(503, "model_unavailable", load_error(str(exc), reader) or "") from exc
