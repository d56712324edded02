"""The local outbox (`DIR/outbox.sqlite`): every event of a drive, and whether it reached the server.

One row per event: its GeoJSON feature (the drive's output is built from these rows), the
frame file to upload, the upload fields, and the send state (`pending` → `sent`, or `failed`
for a request the server refused as invalid). The event id is the primary key and the
upload's idempotency key, so re-running a drive or a crash mid-upload adds no second row.
Each thread opens its own `Outbox`; SQLite in WAL mode lets the pipeline write while the
uploader reads and updates.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OUTBOX_FILE = "outbox.sqlite"
PENDING, SENT, FAILED = "pending", "sent", "failed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    event_id TEXT PRIMARY KEY,
    drive_id TEXT NOT NULL,
    detector TEXT NOT NULL,
    file TEXT NOT NULL,
    fields TEXT NOT NULL,
    feature TEXT NOT NULL,
    first_seen TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    response TEXT,
    created_at REAL NOT NULL,
    sent_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at);
"""


@dataclass(frozen=True)
class OutboxItem:
    event_id: str
    drive_id: str
    detector: str
    file: str  # relative to the drive folder
    fields: dict[str, Any]  # upload fields: drive_id, lat, lon, heading, captured_at
    attempts: int


class Outbox:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def add(
        self, event_id: str, drive_id: str, detector: str, file: str, fields: dict[str, Any], feature: dict[str, Any]
    ) -> bool:
        """Queue an event; False when it is already there (a re-run of the same drive)."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO outbox (event_id, drive_id, detector, file, fields, feature, first_seen, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event_id,
                drive_id,
                detector,
                file,
                json.dumps(fields),
                json.dumps(feature),
                feature["properties"].get("first_seen"),
                time.time(),
            ),
        )
        return cursor.rowcount == 1

    def has(self, event_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM outbox WHERE event_id = ?", (event_id,)).fetchone() is not None

    def due(self, now: float, limit: int = 16) -> list[OutboxItem]:
        rows = self._db.execute(
            "SELECT event_id, drive_id, detector, file, fields, attempts FROM outbox"
            " WHERE status = ? AND next_attempt_at <= ? ORDER BY next_attempt_at, created_at LIMIT ?",
            (PENDING, now, limit),
        ).fetchall()
        return [OutboxItem(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in rows]

    def next_attempt_at(self) -> float | None:
        return self._db.execute("SELECT MIN(next_attempt_at) FROM outbox WHERE status = ?", (PENDING,)).fetchone()[0]

    def mark_sent(self, event_id: str, response: dict[str, Any]) -> None:
        self._db.execute(
            "UPDATE outbox SET status = ?, attempts = attempts + 1, sent_at = ?, response = ?, last_error = NULL"
            " WHERE event_id = ?",
            (SENT, time.time(), json.dumps(response), event_id),
        )

    def mark_retry(self, event_id: str, error: str, next_attempt_at: float) -> None:
        self._db.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE event_id = ?",
            (error, next_attempt_at, event_id),
        )

    def mark_failed(self, event_id: str, error: str) -> None:
        self._db.execute(
            "UPDATE outbox SET status = ?, attempts = attempts + 1, last_error = ? WHERE event_id = ?",
            (FAILED, error, event_id),
        )

    def retry_failed(self) -> int:
        """Put refused events back in the queue (after the server was fixed)."""
        cursor = self._db.execute(
            "UPDATE outbox SET status = ?, next_attempt_at = 0 WHERE status = ?", (PENDING, FAILED)
        )
        return cursor.rowcount

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys((PENDING, SENT, FAILED), 0)
        counts.update(self._db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall())
        return counts

    def last_error(self) -> str | None:
        row = self._db.execute(
            "SELECT last_error FROM outbox WHERE status != ? AND last_error IS NOT NULL"
            " ORDER BY next_attempt_at DESC LIMIT 1",
            (SENT,),
        ).fetchone()
        return row[0] if row else None

    def features(self, drive_id: str | None = None) -> list[dict[str, Any]]:
        """The events' GeoJSON features in the order they were first seen."""
        query = "SELECT feature FROM outbox"
        params: tuple[str, ...] = ()
        if drive_id is not None:
            query, params = query + " WHERE drive_id = ?", (drive_id,)
        rows = self._db.execute(query + " ORDER BY first_seen, event_id", params).fetchall()
        return [json.loads(r[0]) for r in rows]
