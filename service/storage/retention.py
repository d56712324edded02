"""Retention: stored personal data is deleted once it is no longer needed (docs/privacy.md).

A `RetentionRule` names one kind of record, finds what of it is due, and deletes it. The run
(`stadtblick retention run`, and the service's hourly job) applies every rule in one
transaction per batch, with an audit entry per deletion by the actor `retention`; photos are
removed from the frame store before the commit, so a failed commit (or a store that cannot be
reached) leaves rows that the next run deletes again, never a photo without its deletion
recorded. Street frames lose their image after `STADTBLICK_RETENTION_FRAMES_DAYS` but keep
position, time and detections (data minimisation).
Other domains bring their own rules (lost items: `service.lost_property.retention`); the
service puts them together in `service.retention_rules`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auth.keys import Principal, Role
from service.storage import Database, audit
from service.storage.database import hold_lock
from service.storage.frame_images import FrameStore
from service.storage.models import Frame, utcnow

log = logging.getLogger(__name__)

#: The actor of deletions in the audit log.
RETENTION = Principal(key_id="retention", name="retention", role=Role.ADMIN)
BATCH = 500  # records per transaction: short write locks on a large backlog


@dataclass(frozen=True)
class Due:
    """A record whose personal data is due for deletion."""

    id: int
    target: str  # in the audit log: <kind>:<id>, e.g. frame:12


class RetentionRule(Protocol):
    kind: str  # e.g. frame_image; the key of the counts in the report
    store: FrameStore  # where the photos of its records are

    def due(self, session: Session, now: datetime, limit: int) -> list[Due]:
        """Up to `limit` records due at `now` (none of them deleted yet)."""

    def delete(self, session: Session, items: Sequence[Due], now: datetime) -> list[str]:
        """Delete the records' personal data in the session; returns the keys of the photos the
        caller removes from `store` (those no other record shows)."""


def unreferenced(session: Session, column: Any, keys: set[str | None]) -> list[str]:
    """The keys that no record shows any more, after the caller cleared its own records' keys.

    Photos are content-addressed: one still shown by another record (the same photo in another
    drive, or registered twice) stays."""
    session.flush()
    shown = set(session.scalars(select(column).where(column.in_(keys))))
    return sorted(k for k in keys - shown if k)


@dataclass(frozen=True)
class FrameImageRule:
    """A frame's image is deleted `max_age` after it was stored; the frame row and detections stay."""

    store: FrameStore
    max_age: timedelta
    kind: str = "frame_image"

    def due(self, session: Session, now: datetime, limit: int) -> list[Due]:
        stmt = (
            select(Frame.id)
            .where(Frame.image_path.is_not(None), Frame.received_at < now - self.max_age)
            .order_by(Frame.received_at, Frame.id)
            .limit(limit)
        )
        return [Due(fid, f"frame:{fid}") for fid in session.scalars(stmt)]

    def delete(self, session: Session, items: Sequence[Due], now: datetime) -> list[str]:
        frames = list(session.scalars(select(Frame).where(Frame.id.in_([d.id for d in items]))))
        paths = {f.image_path for f in frames}
        for frame in frames:
            frame.image_path, frame.image_deleted_at = None, now
        return unreferenced(session, Frame.image_path, paths)


@dataclass
class RetentionReport:
    deleted: dict[str, int] = field(default_factory=dict)  # kind -> records
    files_removed: int = 0  # photos removed from the frame store
    dry_run: bool = False


def run_retention(
    db: Database, rules: Sequence[RetentionRule], now: datetime | None = None, dry_run: bool = False
) -> RetentionReport:
    """Apply every rule until nothing is due; with `dry_run` only count what would be deleted."""
    now = now or utcnow()
    report = RetentionReport(deleted={r.kind: 0 for r in rules}, dry_run=dry_run)
    for rule in rules:
        if dry_run:
            with db.session() as session:
                report.deleted[rule.kind] = len(rule.due(session, now, limit=10**9))
            continue
        while True:
            with db.transaction() as session:
                hold_lock(session, "retention")  # replicas running retention at once take turns
                items = rule.due(session, now, BATCH)
                if not items:
                    break
                photos = rule.delete(session, items, now)
                for item in items:
                    audit.record(session, RETENTION, audit.DELETE, item.target)
                for key in photos:  # before the commit: a failure rolls back and the next run retries
                    rule.store.delete(key)
            report.deleted[rule.kind] += len(items)
            report.files_removed += len(photos)
    if any(report.deleted.values()) and not dry_run:
        log.info("retention deleted %s (%d files)", report.deleted, report.files_removed)
    return report
