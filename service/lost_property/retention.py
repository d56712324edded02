"""Lost items lose their photo, embedding and free-text fields once past `retain_until` and
returned or disposed of; category, colours and dates stay (the register's statistics)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.lost_property.search_terms import item_index
from service.lost_property.taxonomy import load_taxonomy
from service.storage.frame_images import FrameStore
from service.storage.models import LostItem
from service.storage.retention import Due, unreferenced


@dataclass(frozen=True)
class LostItemRule:
    """A lost item past `retain_until` and no longer held (returned or disposed of) keeps only its
    category, colours, status and dates: photo, embedding, notes and place are deleted."""

    store: FrameStore
    kind: str = "lost_item_photo"

    def due(self, session: Session, now: datetime, limit: int) -> list[Due]:
        stmt = (
            select(LostItem.id)
            .where(
                LostItem.retain_until < now,
                LostItem.status.in_(("returned", "disposed")),
                LostItem.photo_deleted_at.is_(None),
            )
            .order_by(LostItem.retain_until, LostItem.id)
            .limit(limit)
        )
        return [Due(iid, f"lost_item:{iid}") for iid in session.scalars(stmt)]

    def delete(self, session: Session, items: Sequence[Due], now: datetime) -> list[str]:
        lost = list(session.scalars(select(LostItem).where(LostItem.id.in_([d.id for d in items]))))
        paths = {i.photo_path for i in lost}
        for item in lost:
            item.photo_path, item.photo_deleted_at = None, now
            item.embedding = item.embedding_kind = item.notes = item.found_place = None
            item.description = {**item.description, "others": []}
            item.search_terms = item_index(load_taxonomy(), item.category, item.colours)
        return unreferenced(session, LostItem.photo_path, paths)
