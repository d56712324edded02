"""Token buckets in PostgreSQL, one per API key, shared by every API replica.

One statement takes a token: an upsert that refills the bucket by the time elapsed on the
database's clock and takes a token when there is one. PostgreSQL locks the key's row for the
upsert, so concurrent requests from any number of replicas are counted one after another, and
no request reads a count that another is about to change.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

# Tokens in the bucket when this request arrives: the old level plus the refill since the last
# request, at most `burst`. EXCLUDED.updated_s is this request's time, read once.
_LEVEL = "LEAST(:burst, b.tokens + GREATEST(EXCLUDED.updated_s - b.updated_s, 0) * :per_second)"
_TAKE = text(f"""
INSERT INTO rate_limit_buckets AS b (key_id, tokens, updated_s, granted)
VALUES (:key_id, :burst - 1, EXTRACT(EPOCH FROM clock_timestamp()), true)
ON CONFLICT (key_id) DO UPDATE SET
    tokens = CASE WHEN {_LEVEL} >= 1 THEN {_LEVEL} - 1 ELSE {_LEVEL} END,
    updated_s = GREATEST(b.updated_s, EXCLUDED.updated_s),
    granted = {_LEVEL} >= 1
RETURNING tokens, granted
""")


@dataclass(frozen=True)
class TokenTake:
    granted: bool
    tokens: float  # left in the bucket afterwards


class RateLimitRepository:
    """PostgreSQL only (SQLite installations run one process and count in memory)."""

    def __init__(self, session: Session):
        self.session = session

    def take(self, key_id: str, per_second: float, burst: int) -> TokenTake:
        """Take one token from `key_id`'s bucket (a new bucket starts full)."""
        row = self.session.execute(_TAKE, {"key_id": key_id, "per_second": per_second, "burst": burst}).one()
        return TokenTake(granted=row.granted, tokens=row.tokens)
