"""Hostile input through the HTTP API: crafted images, path traversal in every name and id,
SQL injection strings in every filter (on SQLite and PostgreSQL). The service answers with a
4xx error, never a 5xx, never a file outside its data, and never changes what is stored."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from auth_helpers import bearer, create_key
from fastapi.testclient import TestClient
from gis_helpers import seeded_app
from helpers import jpeg_bytes, png_header_only, synthetic_photo
from PIL import Image
from sqlalchemy import func, select

from service.auth import Role
from service.storage.models import AuditEvent, DamageRecord, Detection, Frame, Job, RoadSegment

JPEG = {"Content-Type": "image/jpeg"}


@pytest.fixture(scope="module")
def photo() -> bytes:
    return jpeg_bytes(synthetic_photo(120, 160, seed=7))


@pytest.fixture
def client(secure_client, tiny_weights: Path) -> Iterator[TestClient]:
    with secure_client(weights_dir=tiny_weights) as test_client:
        test_client.headers.update(bearer(create_key(test_client, Role.ADMIN)))
        yield test_client


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _huge_exif_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x010E] = "A" * 60_000  # ImageDescription: nearly the whole 64 KiB APP1 segment
    exif[0x9286] = b"\xff" * 2000  # UserComment of junk
    return jpeg_bytes(synthetic_photo(120, 160, seed=8), exif=exif)


def _gif() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(synthetic_photo(120, 160, seed=9)).save(buffer, "GIF")
    return buffer.getvalue()


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(synthetic_photo(120, 160, seed=10)).save(buffer, "PNG")
    return buffer.getvalue()


def test_decompression_bombs_are_refused_from_the_header(client: TestClient) -> None:
    for width, height in ((100_000, 100_000), (2**31 - 1, 1), (1, 2**31 - 1)):
        start = time.perf_counter()
        response = client.post(
            "/v1/detect", content=png_header_only(width, height), headers={"Content-Type": "image/png"}
        )
        assert response.status_code in (400, 413), (width, height, response.text)
        assert time.perf_counter() - start < 5  # refused without decoding
    for width, height in ((3_000_000, 1), (1, 80_000_000), (65_501, 4_000)):  # small, but thin or unencodable
        start = time.perf_counter()
        response = client.post(
            "/v1/detect", content=png_header_only(width, height), headers={"Content-Type": "image/png"}
        )
        assert response.status_code == 413 and response.json()["error"]["code"] == "image_too_large", response.text
        assert time.perf_counter() - start < 5  # refused from the header, not cut into tiles
    zipped = _zip({"bomb.png": png_header_only(100_000, 100_000)})
    files = [("archive", ("a.zip", zipped, "application/zip"))]
    assert client.post("/v1/frames/batch", data={"drive_id": "bomb"}, files=files).status_code == 202  # per-frame error


@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [
        ("truncated jpeg", lambda p: p[: len(p) // 2], {400}),
        ("jpeg + zip polyglot", lambda p: p + _zip({"payload.txt": b"PK secret"}), {200}),
        ("gif + jar (GIFAR)", lambda p: _gif() + _zip({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n"}), {200}),
        ("huge exif", lambda p: _huge_exif_jpeg(), {200}),
        (
            "garbage exif",
            lambda p: p[:2] + b"\xff\xe1\x00\x20Exif\x00\x00MM\x00\x2a" + b"\xff" * 20 + p[2:],
            {200, 400},
        ),
        ("svg as png", lambda p: b'<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>', {415}),
        ("html as jpeg", lambda p: b"<html><body>hi</body></html>", {415}),
        ("zip as jpeg", lambda p: _zip({"a.jpg": p}), {415}),
    ],
)
def test_hostile_images(client: TestClient, photo: bytes, name: str, make, expected: set[int]) -> None:
    data = make(photo)
    for how in ("raw", "multipart"):
        if how == "raw":
            response = client.post("/v1/detect", content=data, headers=JPEG)
        else:
            response = client.post("/v1/detect", files={"file": ("holiday.jpg", data, "image/jpeg")})
        assert response.status_code in expected, f"{name} ({how}): {response.status_code} {response.text[:200]}"


def test_stored_frames_keep_pixels_only(client: TestClient, photo: bytes) -> None:
    """A polyglot or a huge EXIF block is never stored: frames are re-encoded pixels."""
    data_dir = client.app.state.service.settings.data_dir
    for seed, data in enumerate((photo + _zip({"payload.txt": b"hidden"}), _huge_exif_jpeg())):
        response = client.post(f"/v1/detect?store=true&drive_id=poly{seed}", content=data, headers=JPEG)
        assert response.status_code == 200, response.text
    stored = [p.read_bytes() for p in (data_dir / "frames").rglob("*.jpg")]
    assert len(stored) == 2
    assert all(b"PK\x03\x04" not in s and b"hidden" not in s and b"A" * 1000 not in s for s in stored)


def test_wrong_extension_and_type_are_sniffed(client: TestClient) -> None:
    response = client.post("/v1/detect", files={"file": ("photo.jpg", _png(), "image/jpeg")})
    assert response.status_code == 200 and response.json()["image"]["format"] == "PNG"
    response = client.post("/v1/detect", files={"file": ("photo.png", b"#!/bin/sh\nrm -rf /\n", "image/png")})
    assert response.status_code == 415


TRAVERSALS = ["..%2F..%2F..%2Fetc%2Fpasswd", "..%5C..%5Cwindows%5Cwin.ini", "%2e%2e%2f%2e%2e%2f", "....//....//etc"]


@pytest.mark.parametrize("evil", TRAVERSALS)
def test_path_traversal_in_ids_finds_nothing(client: TestClient, evil: str) -> None:
    for url in (
        f"/v1/frames/{evil}/image",
        f"/v1/jobs/{evil}",
        f"/ogc/collections/{evil}",
        f"/ogc/collections/{evil}/items",
        f"/ogc/collections/road_condition/items/{evil}",
        f"/ogc/collections/road_damage/items/{evil}",
        f"/ui/static/{evil}",
        f"/ui/static/vendor/{evil}",
    ):
        response = client.get(url)
        assert response.status_code in (400, 404, 422), f"{url}: {response.status_code}"
        assert b"root:" not in response.content and b"[fonts]" not in response.content


def test_path_traversal_in_batch_file_names_writes_nothing_outside(
    client: TestClient, photo: bytes, tmp_path: Path
) -> None:
    evil_names = ["../../../evil-a.jpg", "/tmp/evil-b.jpg", "..\\..\\evil-c.jpg", "frames/../../evil-d.jpg", "ok.jpg"]
    archive = _zip({name: jpeg_bytes(synthetic_photo(120, 160, seed=20 + i)) for i, name in enumerate(evil_names)})
    files = [("archive", ("../../evil.zip", archive, "application/zip"))]
    files += [("files", ("../../../evil-e.jpg", photo, "image/jpeg"))]
    response = client.post("/v1/frames/batch", data={"drive_id": "trav"}, files=files)
    assert response.status_code == 202, response.text
    job = response.json()["job_id"]
    deadline = time.monotonic() + 60
    while (status := client.get(f"/v1/jobs/{job}").json())["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert status["status"] == "done" and status["failed"] == 0
    frames = client.app.state.service.settings.data_dir / "frames"
    written = [p.relative_to(frames).as_posix() for p in frames.rglob("*") if p.is_file()]
    assert all(len(p) == 2 + 1 + 64 + 4 and p.endswith(".jpg") for p in written)  # <ab>/<sha256>.jpg only
    roots = {tmp_path.parent, tmp_path, Path("/tmp"), Path.cwd()}
    assert not [p for root in roots for p in root.rglob("evil-*") if p.is_file()]
    assert client.post("/v1/frames/batch", data={"drive_id": "../../etc"}, files=files).status_code == 422


SQLI = [
    "' OR '1'='1",
    "1; DROP TABLE frames; --",
    '") OR 1=1 --',
    "%' OR 1=1 --",
    "1 UNION SELECT id, digest FROM api_keys --",
    "x\x00y",
    "d1' --",
    "*",
]
# Every filter of every route that queries the database: (path, parameter).
FILTERS = [
    (path, param)
    for path in (
        "/ogc/collections/road_damage/items",
        "/ogc/collections/road_condition/items",
        "/v1/detections.geojson",
    )
    for param in ("bbox", "datetime", "class", "drive_id", "limit", "offset")
] + [
    ("/v1/detections.csv", "detector"),
    ("/v1/detections.csv", "drive_id"),
    ("/v1/audit", "actor"),
    ("/v1/audit", "action"),
    ("/v1/audit", "target"),
    ("/v1/audit", "since"),
    ("/v1/audit", "until"),
    ("/v1/audit", "limit"),
]


def _counts(app) -> dict[str, int]:
    with app.state.service.database.session() as session:
        return {
            m.__name__: session.scalar(select(func.count()).select_from(m))
            for m in (Frame, Detection, DamageRecord, RoadSegment, Job, AuditEvent)
        }


@pytest.fixture
def seeded(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    (tmp_path / "weights").mkdir()
    with TestClient(seeded_app(database_url, tmp_path / "data", tmp_path / "weights")) as test_client:
        yield test_client


def test_sql_injection_strings_in_every_filter(seeded: TestClient) -> None:
    before = _counts(seeded.app)
    all_d1 = seeded.get("/v1/detections.geojson", params={"drive_id": "d1"}).json()["numberMatched"]
    for path, param in FILTERS:
        for payload in SQLI:
            response = seeded.get(path, params={param: payload})
            where = f"{path}?{param}={payload!r}"
            assert response.status_code in (400, 422), f"{where}: {response.status_code} {response.text[:200]}"
            assert response.json()["error"]["code"] in ("invalid_parameter", "invalid_request"), where
    for payload in SQLI:  # names that are not names of anything match nothing
        response = seeded.post("/v1/detect", params={"detectors": payload}, content=b"", headers=JPEG)
        assert response.status_code in (404, 422), response.text
        response = seeded.post("/v1/detect?store=true", params={"drive_id": payload}, content=b"", headers=JPEG)
        assert response.status_code in (422, 503), response.text
    assert _counts(seeded.app) == before  # nothing dropped, nothing added
    assert seeded.get("/v1/detections.geojson", params={"drive_id": "d1"}).json()["numberMatched"] == all_d1
