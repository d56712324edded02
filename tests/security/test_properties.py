"""Property-based tests (hypothesis) of the three input classes that once gave 500s, hangs or lost
frames: dates, image shapes and archive members. Each property is stated for every input of its
class, not for the examples that found the bugs.
"""

from __future__ import annotations

import io
import itertools
import time
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from desk_helpers import bag_photo, desk_app, desk_weights
from fastapi.testclient import TestClient
from helpers import jpeg_bytes, png_header_only, synthetic_photo
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from service.imaging import ImageError, ImageLimits, ImageTooLarge, decode_image
from service.inference.tiling import TilingConfig, tile_windows
from service.times import EARLIEST, LATEST, InvalidInstant, parse_instant, parse_interval

PROPERTY = settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)

# --- dates ---------------------------------------------------------------------------

OFFSETS = st.sampled_from(["", "Z", "z", "+00:00", "-00:00", "+14:00", "-12:00", "+05:30", "-0930", "+2359", "-23:59"])


@st.composite
def date_texts(draw: st.DrawFn) -> str:
    """RFC 3339-like texts over the whole calendar (edges included), dates alone, intervals, junk."""
    moment = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)))
    date = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
    clock = f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    fraction = draw(st.sampled_from(["", f".{moment.microsecond:06d}", ".123456789"]))
    instant = f"{date}{draw(st.sampled_from('Tt '))}{clock}{fraction}{draw(OFFSETS)}"
    edge = draw(st.sampled_from(["0000-01-01", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2025-02-29"]))
    single = draw(st.sampled_from([instant, date, edge, draw(st.text(max_size=30))]))
    return draw(
        st.sampled_from(
            [single, f"{single}/..", f"../{single}", f"{instant}/{date}", f"{edge}/{instant}", "/", "../.."]
        )
    )


@given(text=date_texts())
@PROPERTY
def test_an_instant_is_parsed_into_the_range_or_refused(text: str) -> None:
    try:
        start, end = parse_interval(text)
    except InvalidInstant:
        return
    for bound in (start, end):
        assert bound is None or (bound.tzinfo is not None and EARLIEST <= bound <= LATEST)
        if bound is not None:
            bound.astimezone(timezone(timedelta(hours=-23, minutes=-59)))  # any zone: no overflow
            bound.astimezone(timezone(timedelta(hours=23, minutes=59)))


@given(
    moment=st.datetimes(min_value=EARLIEST.replace(tzinfo=None), max_value=LATEST.replace(tzinfo=None)),
    minutes=st.integers(-23 * 60 - 59, 23 * 60 + 59),
)
@PROPERTY
def test_rfc3339_round_trips(moment: datetime, minutes: int) -> None:
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    try:
        parsed = parse_instant(aware.isoformat())
    except InvalidInstant:  # only instants whose UTC time leaves the range
        assert not EARLIEST <= aware.astimezone(timezone.utc) <= LATEST
        return
    assert parsed == aware


@pytest.fixture(scope="module")
def desk_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("dates")
    app = desk_app(desk_weights(root / "weights"), root, require_anonymisation=False)
    with TestClient(app) as client:
        registered = client.post("/v1/lost-items", files={"photo": ("bag.jpg", bag_photo())})
        assert registered.status_code == 201, registered.text
        yield client


def _date_requests(client: TestClient, text: str) -> Iterator[tuple[str, object]]:
    """Every way a date reaches the service: query filters, form fields, JSON bodies."""
    photo = jpeg_bytes(synthetic_photo(48, 64, seed=len(text)))
    yield "ogc datetime", client.get("/ogc/collections/road_damage/items", params={"datetime": text})
    yield "geojson datetime", client.get("/v1/detections.geojson", params={"datetime": text})
    yield "csv datetime", client.get("/v1/detections.csv", params={"datetime": text})
    yield "audit since", client.get("/v1/audit", params={"since": text, "until": text})
    yield "lost items found_from", client.get("/v1/lost-items", params={"found_from": text, "found_to": text})
    yield "search lost_from", client.post("/v1/lost-items/search", json={"lost_from": text, "lost_to": text})
    yield "patch found_at", client.patch("/v1/lost-items/1", json={"found_at": text})
    yield (
        "register found_at",
        client.post("/v1/lost-items", data={"found_at": text}, files={"photo": ("b.jpg", bag_photo((20, 20, 230)))}),
    )
    yield (
        "store captured_at",
        client.post(
            "/v1/detect",
            params={"store": "true", "detectors": "lost_property", "drive_id": "dates"},
            data={"captured_at": text},
            files={"file": ("f.jpg", photo)},
        ),
    )


@given(text=date_texts())
@settings(PROPERTY, max_examples=40)
def test_no_date_gets_a_server_error_on_any_route(desk_client: TestClient, text: str) -> None:
    assume("\x00" not in text)  # NUL cannot travel in a URL query at all
    for where, response in _date_requests(desk_client, text):
        assert response.status_code < 500, f"{where} {text!r}: {response.status_code} {response.text[:300]}"
        if response.status_code in (400, 422):
            assert response.json()["error"]["code"] in ("invalid_parameter", "invalid_request"), where


# --- image shapes --------------------------------------------------------------------

LIMITS = ImageLimits()
SIDES = st.one_of(st.integers(1, 4096), st.integers(1, 2**31 - 1), st.sampled_from([65_500, 65_501, 3_000_000]))


@given(width=SIDES, height=SIDES)
@PROPERTY
def test_an_image_is_refused_from_its_header_exactly_when_it_is_over_a_limit(width: int, height: int) -> None:
    over = (
        width * height > LIMITS.max_pixels
        or max(width, height) > LIMITS.max_side
        or max(width, height) > LIMITS.max_aspect_ratio * min(width, height)
    )
    started = time.perf_counter()
    try:
        decode_image(png_header_only(width, height), LIMITS)  # the header only: any pixel work would fail
    except ImageTooLarge:
        assert over, f"{width}x{height} is within the limits"
    except ImageError:
        assert not over, f"{width}x{height} is over a limit but was decoded"
    assert time.perf_counter() - started < 1.0, "decided from the header"


@given(width=st.integers(1, 65_500), height=st.integers(1, 65_500), tile=st.integers(64, 2048))
@PROPERTY
def test_tiles_cover_any_accepted_image_and_never_exceed_the_cap(width: int, height: int, tile: int) -> None:
    assume(width * height <= LIMITS.max_pixels and max(width, height) <= LIMITS.max_aspect_ratio * min(width, height))
    config = TilingConfig(tile_size=tile)
    windows = tile_windows(width, height, config.tile_size, config.overlap, config.max_tiles)
    assert 1 <= len(windows) <= config.max_tiles
    for axis, length in ((0, width), (1, height)):  # the union of the windows' spans is the whole side
        spans = sorted({(w[axis], w[axis + 2]) for w in windows})
        assert spans[0][0] == 0 and spans[-1][1] == length
        assert all(a[1] >= b[0] for a, b in itertools.pairwise(spans)), "a gap between tiles"


@given(
    height=st.integers(1, 120),
    width=st.integers(1, 120),
    fill=st.sampled_from(["black", "white", "noise", "transparent"]),
    fmt=st.sampled_from(["PNG", "JPEG", "WEBP", "BMP"]),
)
@settings(PROPERTY, max_examples=30)
def test_degenerate_photos_get_an_answer_on_every_image_route(
    desk_client: TestClient, height: int, width: int, fill: str, fmt: str
) -> None:
    """Tiny, flat, thin or see-through photos: described, detected, anonymised or refused, never a 5xx."""
    pixels = {
        "black": np.zeros((height, width, 3), np.uint8),
        "white": np.full((height, width, 3), 255, np.uint8),
        "noise": np.random.default_rng(height * width).integers(0, 256, (height, width, 3), dtype=np.uint8),
        "transparent": np.zeros((height, width, 4), np.uint8),
    }[fill]
    if fmt in ("JPEG", "BMP") and pixels.shape[2] == 4:
        pixels = pixels[..., :3]
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt)
    data = buffer.getvalue()
    thin = max(width, height) > LIMITS.max_aspect_ratio * min(width, height)
    for route, field in (
        ("/v1/lost-items/describe", "photo"),
        ("/v1/lost-items/search", "photo"),
        ("/v1/detect", "file"),
    ):
        response = desk_client.post(route, files={field: ("p", data)}, params={"detectors": "lost_property"})
        assert response.status_code < 500, f"{route} {width}x{height} {fill} {fmt}: {response.text[:300]}"
        assert (response.status_code == 413) == thin, f"{route} {width}x{height}: {response.status_code}"


# --- archive members -----------------------------------------------------------------

MAX_FRAME = 64 * 1024
GOOD = jpeg_bytes(synthetic_photo(60, 80, seed=1))
KINDS = {
    "good": GOOD,
    "truncated": GOOD[: len(GOOD) // 2],
    "noise": bytes(range(256)) * 3,
    "empty": b"",
    "oversized": b"\xff\xd8\xff" + b"\0" * MAX_FRAME,  # inflates past the frame limit
    "png-bomb-head": png_header_only(3_000_000, 1),
}
FAULTS = ["none", "encrypted-flag", "unknown-method", "damaged-data"]


def _archive(members: list[tuple[str, str, str]]) -> bytes:
    """A zip of (name, kind, fault) members; faults are applied to the bytes of each member."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, kind, _ in members:
            zf.writestr(name, KINDS[kind])
    data = bytearray(buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        infos = zf.infolist()
    central = bytes(data).index(b"PK\x01\x02", infos[-1].header_offset)  # entries in member order
    for info, (_, _, fault) in zip(infos, members, strict=True):
        local = info.header_offset
        # Flags and method sit in the local header (at 6, 8) and in the central directory (at 8, 10).
        if fault == "encrypted-flag":
            data[local + 6] |= 0x1
            data[central + 8] |= 0x1
        elif fault == "unknown-method":
            data[local + 8 : local + 10] = data[central + 10 : central + 12] = (99).to_bytes(2, "little")
        elif fault == "damaged-data" and info.compress_size > 2:
            start = local + 30 + len(info.filename.encode()) + len(info.extra)
            for i in range(start, start + min(info.compress_size, 8)):
                data[i] ^= 0x5A
        central += 46 + len(info.filename.encode()) + len(info.extra) + len(info.comment)
    return bytes(data)


@pytest.fixture(scope="module")
def batch_client(tmp_path_factory: pytest.TempPathFactory, tiny_weights: Path) -> Iterator[TestClient]:
    from service.api.app import create_app
    from service.config import Settings

    root = tmp_path_factory.mktemp("archives")
    settings = Settings(
        weights_dir=str(tiny_weights),
        data_dir=root,
        inference_workers=1,
        max_upload_bytes=MAX_FRAME,
        max_batch_jobs=1,
        require_anonymisation=False,
    )
    with TestClient(create_app(settings, load_in_background=False)) as client:
        yield client


def _finished(client: TestClient, job_id: str) -> dict:
    deadline = time.monotonic() + 120
    while (job := client.get(f"/v1/jobs/{job_id}").json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    return job


# Control characters included (they reach job errors); NUL not: zipfile itself cuts names there.
MEMBER_NAMES = st.text(st.characters(codec="utf-8", exclude_characters="\x00/\\"), min_size=1, max_size=12)


@given(
    members=st.lists(
        st.tuples(MEMBER_NAMES, st.sampled_from(sorted(KINDS)), st.sampled_from(FAULTS)),
        min_size=1,
        max_size=6,
        unique_by=lambda m: m[0],
    )
)
@settings(PROPERTY, max_examples=25)
def test_every_archive_member_ends_with_its_own_result(batch_client: TestClient, members: list) -> None:
    """Whatever its members hold, a batch with a readable directory runs to `done`, every frame
    processed, each failed one with its own error: no member stops or fails the others."""
    members = [(f"frames/{name}", kind, fault) for name, kind, fault in members]
    archive = _archive(members)
    response = batch_client.post(
        "/v1/frames/batch", data={"drive_id": "props"}, files={"archive": ("a.zip", archive, "application/zip")}
    )
    hidden = [m for m in members if any(p.startswith(".") for p in m[0].split("/"))]
    if len(hidden) == len(members):
        assert response.status_code == 400 and "no frames" in response.text
        return
    assert response.status_code == 202, response.text  # the directory is intact: the batch is accepted
    job = _finished(batch_client, response.json()["job_id"])
    assert job["status"] == "done", job
    assert job["total"] == job["processed"] == len(members) - len(hidden), job
    assert job["failed"] == len(job["errors"]), job
    surely_bad = [
        m for m in members if m not in hidden and (m[1] != "good" or m[2] in ("encrypted-flag", "unknown-method"))
    ]
    assert job["failed"] >= len(surely_bad), job
    assert all(e.isprintable() for e in job["errors"]), "names are recorded without control characters"
