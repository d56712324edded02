"""Resolving the `detectors` query parameter against the registry."""

from __future__ import annotations

from service.api.errors import ApiError
from service.inference import OnnxDetector
from service.registry.registry import ModelRegistry, ModelUnavailable


def select_detectors(registry: ModelRegistry, requested: str | None) -> list[OnnxDetector]:
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
        raise ApiError(503, "model_unavailable", str(exc)) from exc
