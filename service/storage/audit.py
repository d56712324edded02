"""The audit log: who read, changed or deleted stored personal data (frame images, lost-property
records), when, and with which key.

Features call `record(session, actor, action, target)` inside the transaction that does the
work, so an action and its audit entry are committed (or rolled back) together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.auth.keys import Principal
from service.storage.models import AuditEvent, utcnow

READ, CREATE, UPDATE, DELETE = "read", "create", "update", "delete"


def record(session: Session, actor: Principal, action: str, target: str) -> None:
    """Log `action` on `target` (``<kind>:<id>``, e.g. ``frame:12``) by `actor`."""
    session.add(AuditEvent(at=utcnow(), actor=actor.name, key_id=actor.key_id, action=action, target=target))


@dataclass(frozen=True)
class AuditQuery:
    actor: str | None = None
    action: str | None = None
    target: str | None = None  # exact, or a kind prefix ending in ':' (``frame:``)
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0


def find(session: Session, query: AuditQuery) -> tuple[int, list[AuditEvent]]:
    """(number matched, the page of events), newest first."""
    stmt = select(AuditEvent)
    if query.actor:
        stmt = stmt.where(AuditEvent.actor == query.actor)
    if query.action:
        stmt = stmt.where(AuditEvent.action == query.action)
    if query.target and query.target.endswith(":"):
        stmt = stmt.where(func.substr(AuditEvent.target, 1, len(query.target)) == query.target)
    elif query.target:
        stmt = stmt.where(AuditEvent.target == query.target)
    if query.since:
        stmt = stmt.where(AuditEvent.at >= query.since)
    if query.until:
        stmt = stmt.where(AuditEvent.at <= query.until)
    matched = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(query.limit).offset(query.offset))
    return matched, list(rows)
