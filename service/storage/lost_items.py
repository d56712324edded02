"""The lost-property register's records: filters and paging in SQL, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from service.storage.models import LostItem

COLOUR_TAG = "colour:"  # colours in `search_terms`, apart from colour words in the notes


@dataclass(frozen=True)
class LostItemQuery:
    category: str | None = None
    colour: str | None = None
    status: str | None = None
    words: tuple[frozenset[str], ...] = ()  # per query word, terms any of which matches (search_terms)
    found_from: datetime | None = None
    found_to: datetime | None = None
    limit: int = 50
    offset: int = 0


def index_text(terms: set[str], colours: list[str]) -> str:
    """The `search_terms` column: space-delimited, so a term's beginning is `LIKE '% term%'`."""
    return " " + " ".join(sorted(terms | {COLOUR_TAG + c for c in colours})) + " "


class LostItemRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, item: LostItem) -> LostItem:
        self.session.add(item)
        self.session.flush()
        return item

    def get(self, item_id: int) -> LostItem | None:
        return self.session.get(LostItem, item_id)

    def find(self, query: LostItemQuery) -> tuple[int, list[LostItem]]:
        """(number matched, the page), most recently found first."""
        stmt = self._filtered(query)
        matched = self.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        page = stmt.order_by(LostItem.found_at.desc(), LostItem.id.desc()).limit(query.limit).offset(query.offset)
        return matched, list(self.session.scalars(page))

    def candidates(self, query: LostItemQuery, cap: int) -> list[LostItem]:
        """Up to `cap` items a search may rank (filters only, no paging)."""
        return list(self.session.scalars(self._filtered(query).order_by(LostItem.id.desc()).limit(cap)))

    def photo_in_use(self, photo_path: str) -> bool:
        return self.session.scalar(select(func.count()).where(LostItem.photo_path == photo_path)) > 0

    def _filtered(self, q: LostItemQuery) -> Select[tuple[LostItem]]:
        conditions = []
        if q.category:
            conditions.append(LostItem.category == q.category)
        if q.colour:
            conditions.append(LostItem.search_terms.contains(f" {COLOUR_TAG}{q.colour} ", autoescape=True))
        if q.status:
            conditions.append(LostItem.status == q.status)
        for options in q.words:
            conditions.append(or_(*(LostItem.search_terms.contains(f" {o}", autoescape=True) for o in sorted(options))))
        if q.found_from:
            conditions.append(LostItem.found_at >= q.found_from)
        if q.found_to:
            conditions.append(LostItem.found_at <= q.found_to)
        return select(LostItem).where(and_(True, *conditions))
