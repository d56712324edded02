"""GET /v1/audit: who read, changed or deleted stored personal data (admins only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from service.api.auth import AUTH_RESPONSES, allow
from service.api.deps import DbSession
from service.storage import audit
from service.times import Instant, InstantUntil

router = APIRouter(prefix="/v1", tags=["audit"], dependencies=[allow()], responses=AUTH_RESPONSES)

_NAME = r"^[A-Za-z0-9_.@:\-]{1,128}$"


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str = Field(description="Name of the API key")
    key_id: str
    action: str = Field(description="read, create, update, delete, export; reviews: confirm, reject, correct, add")
    target: str = Field(description="<kind>:<id>, e.g. frame:12")


class AuditPage(BaseModel):
    matched: int
    events: list[AuditEntry] = Field(description="Newest first")


@router.get("/audit", response_model=AuditPage)
def audit_log(
    session: DbSession,
    actor: Annotated[str | None, Query(pattern=_NAME, description="Key name")] = None,
    action: Annotated[str | None, Query(pattern=r"^[a-z_]{1,16}$")] = None,
    target: Annotated[
        str | None, Query(pattern=_NAME, description="Exact target, or a kind ending in ':' (e.g. frame:)")
    ] = None,
    since: Annotated[Instant | None, Query(description="RFC 3339 (UTC without an offset) or a date")] = None,
    until: Annotated[InstantUntil | None, Query(description="RFC 3339 or a date (its end)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> AuditPage:
    query = audit.AuditQuery(actor, action, target, since, until, limit, offset)
    matched, events = audit.find(session, query)
    return AuditPage(matched=matched, events=[AuditEntry.model_validate(e, from_attributes=True) for e in events])
