"""Store-and-forward: a background thread sends the outbox to the server whenever it is reachable.

Protocol: each event's anonymised best frame goes through the service's ordinary
`POST /v1/detect?store=true` with the drive, position, heading and capture time. The server
runs the same detector and merges the frame into its damage records; it ignores an image it
already holds for the drive (same sha256), and the frame file is written once and never
re-encoded, so a retry after a lost response stores nothing twice. The event id travels as
`Idempotency-Key` for servers and proxies that honour it.

Failures: no connection, timeouts, 5xx, 429 and 401/403 (a key not provisioned yet) are
retried with exponential backoff and jitter, for ever -- nothing is dropped; any other 4xx
means the request itself is wrong: the row is marked failed (see `stadtblick edge status`,
`stadtblick edge sync --retry-failed`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from service.edge.outbox import Outbox, OutboxItem

log = logging.getLogger(__name__)

RETRY_STATUSES = {401, 403, 408, 425, 429}
IDLE_POLL_S = 5.0


@dataclass(frozen=True)
class RetryPolicy:
    base_s: float = 1.0
    max_s: float = 300.0
    jitter: float = 0.5  # up to this share of the delay is random, so many vehicles do not retry in step

    def delay(self, attempts: int, rng: random.Random) -> float:
        """Delay before the next try after `attempts` failed ones."""
        raw = min(self.max_s, self.base_s * 2 ** max(attempts - 1, 0))
        return raw * (1.0 - self.jitter * rng.random())


class Retry(Exception):
    def __init__(self, message: str, not_before_s: float = 0.0):
        super().__init__(message)
        self.not_before_s = not_before_s


class Refused(Exception):
    """The server refused the request as invalid: sending it again cannot help."""


@dataclass(frozen=True)
class ServerTarget:
    url: str
    api_key: str | None = None
    timeout_s: float = 60.0

    def headers(self, item: OutboxItem) -> dict[str, str]:
        headers = {"Idempotency-Key": item.event_id}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers


def send(client: httpx.Client, target: ServerTarget, drive_dir: Path, item: OutboxItem) -> dict[str, Any]:
    """Upload one event; the server's `stored` answer, or Retry / Refused."""
    try:
        data = (drive_dir / item.file).read_bytes()
    except OSError as exc:
        raise Refused(f"frame file unreadable: {exc}") from exc
    params = {"store": "true", "detectors": item.detector, **{k: v for k, v in item.fields.items() if v is not None}}
    try:
        response = client.post(
            f"{target.url.rstrip('/')}/v1/detect",
            params=params,
            files={"file": (Path(item.file).name, data, "image/jpeg")},
            headers=target.headers(item),
        )
    except httpx.TransportError as exc:
        raise Retry(f"{type(exc).__name__}: {exc}") from exc
    if response.status_code == 200:
        return response.json().get("stored") or {}
    message = f"HTTP {response.status_code}: {response.text[:300]}"
    if response.status_code >= 500 or response.status_code in RETRY_STATUSES:
        retry_after = response.headers.get("retry-after", "")
        raise Retry(message, float(retry_after) if retry_after.isdigit() else 0.0)
    raise Refused(message)


class Uploader:
    """The sending thread; `notify()` when events were queued, `drain()` at the end of a drive."""

    def __init__(
        self,
        drive_dir: Path,
        outbox_path: Path,
        target: ServerTarget,
        policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        seed: int | None = None,
    ):
        self.drive_dir, self.outbox_path, self.target = drive_dir, outbox_path, target
        self.policy = policy or RetryPolicy()
        self.transport = transport
        self.sent = 0
        self._rng = random.Random(seed)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="uploader", daemon=True)

    def start(self) -> Uploader:
        self._thread.start()
        return self

    def notify(self) -> None:
        self._wake.set()

    def drain(self, timeout_s: float) -> bool:
        """Wait until nothing is pending (True) or `timeout_s` passed; then stop the thread."""
        deadline = time.monotonic() + timeout_s
        outbox = Outbox(self.outbox_path)
        try:
            while outbox.counts()["pending"] and time.monotonic() < deadline and self._thread.is_alive():
                self._wake.set()
                time.sleep(0.1)
            return outbox.counts()["pending"] == 0
        finally:
            outbox.close()
            self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=self.target.timeout_s + 5)

    def _run(self) -> None:
        outbox = Outbox(self.outbox_path)
        client = httpx.Client(timeout=httpx.Timeout(self.target.timeout_s, connect=10.0), transport=self.transport)
        try:
            while not self._stop.is_set():
                items = outbox.due(time.time())
                for item in items:
                    if self._stop.is_set() or not self._send_one(client, outbox, item):
                        break  # the server is unreachable: the rest waits for its own next try
                if not items:
                    upcoming = outbox.next_attempt_at()
                    wait = IDLE_POLL_S if upcoming is None else min(max(upcoming - time.time(), 0.0), IDLE_POLL_S)
                    self._wake.wait(wait)
                    self._wake.clear()
        finally:
            client.close()
            outbox.close()

    def _send_one(self, client: httpx.Client, outbox: Outbox, item: OutboxItem) -> bool:
        """False when the server could not take it now."""
        try:
            stored = send(client, self.target, self.drive_dir, item)
        except Retry as exc:
            delay = max(self.policy.delay(item.attempts + 1, self._rng), exc.not_before_s)
            outbox.mark_retry(item.event_id, str(exc), time.time() + delay)
            log.warning(
                "upload of %s failed (try %d), next in %.1f s: %s", item.event_id, item.attempts + 1, delay, exc
            )
            return False
        except Refused as exc:
            outbox.mark_failed(item.event_id, str(exc))
            log.error("upload of %s refused, not retried: %s", item.event_id, exc)
        else:
            outbox.mark_sent(item.event_id, stored)
            self.sent += 1
            note = ", already there" if stored.get("duplicate") else ""
            log.info("sent %s (server frame %s%s)", item.event_id, stored.get("frame_id"), note)
        return True
