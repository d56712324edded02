"""Limits: per-key rate limit, the bounded upload queue, body size on every route that takes a
body, files per batch."""

from __future__ import annotations

import io
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from auth_helpers import bearer, concrete, create_key, route_table
from fastapi.testclient import TestClient
from helpers import jpeg_bytes, synthetic_photo
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import Receive, Scope, Send

from service.admission import Admission, Overloaded
from service.api.body_limit import BodyLimitMiddleware
from service.api.errors import ApiError
from service.api.rate_limit import MemoryRateLimiter
from service.auth import Role


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_bursts_then_the_rate() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(per_minute=60, burst=3, clock=clock)
    assert [limiter.retry_after("a") for _ in range(3)] == [None, None, None]
    assert limiter.retry_after("a") == 1  # empty: one token per second
    assert limiter.retry_after("b") is None  # buckets are per key
    clock.now = 1.0
    assert limiter.retry_after("a") is None
    assert limiter.retry_after("a") == 1
    clock.now = 100.0  # refills up to the burst, not beyond
    assert [limiter.retry_after("a") for _ in range(4)] == [None, None, None, 1]
    assert MemoryRateLimiter(per_minute=0, burst=1, clock=clock).retry_after("a") is None  # 0: unlimited


def test_rate_limited_key_gets_429_with_retry_after(secure_client) -> None:
    with secure_client(rate_limit_per_minute=6, rate_limit_burst=2) as client:
        busy, other = bearer(create_key(client, Role.GIS, "busy")), bearer(create_key(client, Role.GIS, "other"))
        assert [client.get("/v1/models", headers=busy).status_code for _ in range(2)] == [200, 200]
        limited = client.get("/v1/models", headers=busy)
        assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        assert client.get("/v1/models", headers=other).status_code == 200
        assert client.get("/healthz").status_code == 200  # open routes are not limited


def test_admission_refuses_beyond_capacity() -> None:
    gate = Admission("uploads", capacity=2, retry_after_s=3)
    with gate.slot(), gate.slot():
        with pytest.raises(Overloaded) as raised, gate.slot():
            pass
        assert raised.value.retry_after_s == 3
    assert gate.in_use == 0


@pytest.fixture
def admin_client(secure_client, tiny_weights: Path) -> Iterator:
    with secure_client(
        weights_dir=tiny_weights, max_upload_bytes=10_000, max_batch_bytes=20_000, max_batch_frames=3
    ) as client:
        client.headers.update(bearer(create_key(client, Role.ADMIN)))
        yield client


def test_full_upload_queue_answers_503_busy_without_reading_the_body(admin_client) -> None:
    uploads = admin_client.app.state.service.uploads
    taken = uploads.capacity
    for _ in range(taken):
        uploads.acquire()  # as many uploads in progress as the service admits
    try:
        response = admin_client.post(
            "/v1/detect", content=b"\xff\xd8" + b"x" * 100, headers={"Content-Type": "image/jpeg"}
        )
        assert response.status_code == 503 and response.json()["error"]["code"] == "busy"
        assert int(response.headers["retry-after"]) >= 1
    finally:
        for _ in range(taken):
            uploads.release()
    photo = jpeg_bytes(synthetic_photo(60, 80))
    assert admin_client.post("/v1/detect", content=photo, headers={"Content-Type": "image/jpeg"}).status_code == 200


def test_full_batch_queue_answers_503_busy_without_reading_the_body(admin_client) -> None:
    jobs = admin_client.app.state.service.batches.jobs
    for _ in range(jobs.capacity):
        jobs.acquire()
    try:
        # A body that is not multipart at all: read, it would be a 400; it is refused before.
        garbage = {"Content-Type": "multipart/form-data; boundary=nothing-follows"}
        response = admin_client.post("/v1/frames/batch", content=b"\0" * 5000, headers=garbage)
        assert response.status_code == 503 and response.json()["error"]["code"] == "busy"
        assert "retry-after" in response.headers
    finally:
        for _ in range(jobs.capacity):
            jobs.release()
    files = [("files", ("a.jpg", jpeg_bytes(synthetic_photo(60, 80)), "image/jpeg"))]
    assert admin_client.post("/v1/frames/batch", data={"drive_id": "d1"}, files=files).status_code == 202
    assert jobs.in_use <= jobs.capacity


def test_large_images_never_take_the_last_worker(secure_client, tiny_weights: Path) -> None:
    """With the background pool (large images, batch frames) busy, a small upload is answered at
    once; a large one waits for the background pool instead of taking the last worker."""
    with secure_client(weights_dir=tiny_weights, inference_workers=2, large_image_pixels=5_000) as client:
        client.headers.update(bearer(create_key(client, Role.ADMIN)) | {"Content-Type": "image/jpeg"})
        state = client.app.state.service
        release = threading.Event()
        state.background.submit(release.wait, 60)  # its only worker is busy
        small, large = jpeg_bytes(synthetic_photo(60, 80)), jpeg_bytes(synthetic_photo(100, 100))
        answers: list[int] = []
        waiting = threading.Thread(target=lambda: answers.append(client.post("/v1/detect", content=large).status_code))
        waiting.start()
        try:
            assert client.post("/v1/detect", content=small).status_code == 200
            waiting.join(timeout=1.0)
            assert waiting.is_alive() and not answers, "the large image waits for the background pool"
        finally:
            release.set()
        waiting.join(timeout=60)
        assert answers == [200]


def test_every_route_that_takes_a_body_limits_it(admin_client) -> None:
    """Generated from the route table: a new POST/PUT/PATCH route is covered without a new test.

    A declared oversize body is refused with 413 before any route runs; a chunked one is cut
    off by the middleware (below), so the route fails instead of buffering it.
    """
    limit = admin_client.app.state.service.settings.max_request_bytes
    body_routes = [r for r in route_table(admin_client.app) if r.split()[0] in ("POST", "PUT", "PATCH")]
    assert "POST /v1/detect" in body_routes and "POST /v1/frames/batch" in body_routes

    def chunks() -> Iterator[bytes]:  # no Content-Length: the size shows only while reading
        for _ in range(limit // 8192 + 2):
            yield b"\0" * 8192

    for route in body_routes:
        method, path = route.split(" ", 1)
        declared = admin_client.request(method, concrete(path), content=b"\0" * (limit + 1))
        assert declared.status_code == 413, f"{route} (declared size): {declared.status_code} {declared.text[:200]}"
        assert declared.json()["error"]["code"] == "payload_too_large"
        streamed = admin_client.request(method, concrete(path), content=chunks())
        assert 400 <= streamed.status_code < 500 or streamed.status_code == 503, f"{route} (chunked): {streamed.text}"


def test_body_limit_middleware_cuts_off_a_chunked_body() -> None:
    """Whatever a route does with its body, it never gets more than the limit (plus one chunk)."""
    got = {"bytes": 0}

    async def greedy_route(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            async for piece in request.stream():
                got["bytes"] += len(piece)
        except ApiError as exc:
            await JSONResponse({"code": exc.code}, exc.status)(scope, receive, send)
            return
        await PlainTextResponse("read it all")(scope, receive, send)

    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b"\0" * 1000

    client = TestClient(BodyLimitMiddleware(greedy_route, max_bytes=10_000))  # no lifespan to run
    response = client.post("/", content=chunks())
    assert response.status_code == 413 and response.json() == {"code": "payload_too_large"}
    assert got["bytes"] <= 10_000
    assert client.post("/", content=b"\0" * 10_000).text == "read it all"
    assert client.post("/", content=b"\0" * 10_001).status_code == 413  # declared: refused unread


def test_per_route_limits_are_tighter(admin_client) -> None:
    raw = admin_client.post("/v1/detect", content=b"\xff" * 10_001, headers={"Content-Type": "image/jpeg"})
    assert raw.status_code == 413
    files = [("files", (f"{i}.jpg", b"\xff" * 8_000, "image/jpeg")) for i in range(3)]
    batch = admin_client.post("/v1/frames/batch", data={"drive_id": "d1"}, files=files)
    assert batch.status_code == 413


def test_files_per_batch_are_limited(admin_client) -> None:
    photo = jpeg_bytes(synthetic_photo(60, 80))
    files = [("files", (f"{i}.jpg", photo, "image/jpeg")) for i in range(5)]
    loose = admin_client.post("/v1/frames/batch", data={"drive_id": "d1"}, files=files)
    assert loose.status_code == 400 and loose.json()["error"]["code"] in ("invalid_multipart", "invalid_batch")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(5):
            zf.writestr(f"{i}.jpg", photo)
    zipped = admin_client.post(
        "/v1/frames/batch",
        data={"drive_id": "d1"},
        files=[("archive", ("a.zip", archive.getvalue(), "application/zip"))],
    )
    assert zipped.status_code == 400 and "more than 3 frames" in zipped.json()["error"]["message"]
    directory = io.BytesIO()  # entries beyond frames (folders, hidden files): refused before they are parsed
    with zipfile.ZipFile(directory, "w") as zf:
        for i in range(13):
            zf.writestr(f"{i}/", b"")
    crowded = admin_client.post(
        "/v1/frames/batch", data={"drive_id": "d1"}, files=[("archive", ("a.zip", directory.getvalue()))]
    )
    assert crowded.status_code == 400 and "more than 12 entries" in crowded.json()["error"]["message"]
