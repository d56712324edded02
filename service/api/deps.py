"""FastAPI dependencies: access to the service state, a database session per request, guards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from service.api.errors import ApiError
from service.api.state import ServiceState


def get_state(request: Request) -> ServiceState:
    return request.app.state.service


def require_ready(state: Annotated[ServiceState, Depends(get_state)]) -> ServiceState:
    if not state.ready.is_set():
        raise ApiError(503, "not_ready", "models are still loading", headers={"Retry-After": "2"})
    return state


State = Annotated[ServiceState, Depends(get_state)]
ReadyState = Annotated[ServiceState, Depends(require_ready)]


def get_db_session(state: State) -> Iterator[Session]:
    """One transaction per request: committed when the endpoint returns, rolled back when it raises."""
    with state.database.session() as session:
        yield session


DbSession = Annotated[Session, Depends(get_db_session)]
