"""Ranking register items against a citizen's description and/or photo of a lost item.

Each kind of evidence gives a score in 0..1 and a reason; the candidate's score is the weighted
mean over the evidence the query has (a text-only query is not penalised for lacking a photo):

| evidence | weight | score |
| --- | --- | --- |
| category | 0.3 | 1 if the item's category is the query's (given, or recognised in the photo) |
| colour | 0.2 | share of the query's colours the item has |
| text | 0.2 | share of the query's words the item's terms match (search_terms) |
| image | 0.3 | cosine similarity of the embeddings, clipped at 0 (same extractor only) |
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.lost_property.schemas import Reason
from service.lost_property.search_terms import matches
from service.storage.models import LostItem

WEIGHTS = {"category": 0.3, "colour": 0.2, "text": 0.2, "image": 0.3}


@dataclass(frozen=True)
class MatchQuery:
    category: str | None
    colours: list[str]
    words: list[set[str]]
    embedding: np.ndarray | None
    embedding_kind: str | None


@dataclass(frozen=True)
class Ranked:
    item: LostItem
    score: float
    reasons: list[Reason]


def rank(query: MatchQuery, items: list[LostItem], limit: int) -> list[Ranked]:
    """The best `limit` items, highest score first (newer items first on a tie)."""
    ranked = [_score(query, item) for item in items]
    ranked.sort(key=lambda r: (-r.score, -r.item.id))
    return ranked[:limit]


def _score(query: MatchQuery, item: LostItem) -> Ranked:
    reasons = []
    if query.category:
        same = item.category == query.category
        reasons.append(Reason(kind="category", score=float(same), detail=f"{item.category} vs {query.category}"))
    if query.colours:
        shared = [c for c in query.colours if c in item.colours]
        reasons.append(
            Reason(
                kind="colour", score=len(shared) / len(query.colours), detail=", ".join(shared) or "no shared colour"
            )
        )
    if query.words:
        hit = matches(query.words, set(item.search_terms.split()))
        reasons.append(Reason(kind="text", score=hit / len(query.words), detail=f"{hit} of {len(query.words)} words"))
    if query.embedding is not None and item.embedding is not None and item.embedding_kind == query.embedding_kind:
        similarity = float(np.frombuffer(item.embedding, np.float32) @ query.embedding)
        reasons.append(Reason(kind="image", score=round(max(similarity, 0.0), 4), detail=f"{query.embedding_kind}"))
    weight = sum(WEIGHTS[r.kind] for r in reasons)
    score = sum(WEIGHTS[r.kind] * r.score for r in reasons) / weight if weight else 0.0
    return Ranked(item, round(score, 4), reasons)
