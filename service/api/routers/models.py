"""GET /v1/models: the model cards of every detector, with load status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from service.api.auth import AUTH_RESPONSES, CurrentPrincipal, allow
from service.api.deps import State
from service.api.selection import load_error
from service.auth import ROLES

router = APIRouter(prefix="/v1", tags=["models"], dependencies=[allow(*ROLES)], responses=AUTH_RESPONSES)


class ModelStatus(BaseModel):
    name: str
    status: str  # ready, loading, unavailable
    error: str | None = None
    card: dict[str, Any] | None = None


@router.get("/models", response_model=list[ModelStatus])
def list_models(state: State, principal: CurrentPrincipal) -> list[ModelStatus]:
    """Every detector's card and status; why a model failed to load is shown to admins only."""
    out = []
    for name, entry in state.registry.entries.items():
        if entry.ready:
            status = "ready"
        elif entry.error:
            status = "unavailable"
        else:
            status = "loading"
        card = entry.card.model_dump(mode="json") if entry.card else None
        out.append(ModelStatus(name=name, status=status, error=load_error(entry.error, principal), card=card))
    return out
