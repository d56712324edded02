"""Authentication and role checks as FastAPI dependencies (the matrix: docs/security.md).

A route states who may call it with ``dependencies=[allow(Role.GIS)]`` (admin is always
allowed), on the route or on its router; a handler that needs to know who calls (ownership,
audit) adds a ``principal: CurrentPrincipal`` parameter, which costs nothing extra: FastAPI
resolves `authenticate` once per request.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, params
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.api.deps import State
from service.api.errors import ApiError
from service.api.state import ServiceState
from service.auth.keys import LOCAL_DEVELOPER, Principal, Role
from service.storage.api_keys import ApiKeyRepository

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer sbk_...`")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or an unknown or revoked one (`WWW-Authenticate: Bearer`)"},
    403: {"description": "The key's role may not use this route"},
    429: {"description": "The key's rate limit is exhausted (`Retry-After`)"},
}


def identify(state: ServiceState, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """The principal behind the request's bearer key; 401 for a missing, unknown or revoked key."""
    if state.settings.auth == "disabled":
        return LOCAL_DEVELOPER
    if credentials is None:
        raise ApiError(401, "unauthorized", "an API key is required: Authorization: Bearer <key>", _challenge())
    with state.database.session() as session:
        principal = ApiKeyRepository(session).authenticate(credentials.credentials.strip())
    if principal is None:
        raise ApiError(401, "unauthorized", "the API key is unknown or revoked", _challenge("invalid_token"))
    return principal


def authenticate(state: State, credentials: Credentials) -> Principal:
    """Who calls, after the per-key rate limit (429 with `Retry-After` when exhausted; none without keys)."""
    principal = identify(state, credentials)
    retry_after = None if principal is LOCAL_DEVELOPER else state.rate_limiter.retry_after(principal.key_id)
    if retry_after is not None:
        raise ApiError(
            429, "rate_limited", f"rate limit of key {principal.name!r} exceeded", {"Retry-After": str(retry_after)}
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def check_role(principal: Principal, roles: frozenset[Role]) -> None:
    if principal.role not in roles:
        allowed = ", ".join(sorted(r.value for r in roles))
        raise ApiError(403, "forbidden", f"role {principal.role.value!r} may not do this; allowed: {allowed}")


def allow(*roles: Role) -> params.Depends:
    """The dependency that lets keys of these roles (and admin) through: 401/403/429 otherwise."""
    allowed = frozenset({Role.ADMIN, *roles})

    def required_role(principal: CurrentPrincipal) -> Principal:
        check_role(principal, allowed)
        return principal

    return Depends(required_role)


def _challenge(error: str | None = None) -> dict[str, str]:
    return {"WWW-Authenticate": f'Bearer error="{error}"' if error else "Bearer"}
