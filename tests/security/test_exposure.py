"""What the service gives away besides its answers: log lines, file modes, headers, links, paths,
and other inspectors' frames. Each test runs the real app (over HTTP where logs are concerned)."""

from __future__ import annotations

import logging
import shutil
import stat
from pathlib import Path

import httpx
import pytest
from auth_helpers import bearer, create_key
from fastapi.testclient import TestClient
from gis_helpers import live_server
from helpers import TINY_INPUT, jpeg_bytes, synthetic_photo, write_detector
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from service.api.app import create_app
from service.auth import Role
from service.config import Settings
from service.storage import Database

JPEG = {"Content-Type": "image/jpeg"}


def test_access_log_keeps_paths_but_no_query_strings(tmp_path: Path) -> None:
    (tmp_path / "weights").mkdir()
    app = create_app(Settings(weights_dir=str(tmp_path / "weights"), data_dir=tmp_path / "data"))
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler, access = Collect(), logging.getLogger("uvicorn.access")
    with live_server(app, log_level="info") as base:  # uvicorn configures its loggers as it starts
        access.addHandler(handler)
        try:
            query = {"datetime": "2025-05-01", "bbox": "13.40,52.51,13.41,52.52", "q": "schwarzer Schirm"}
            httpx.get(f"{base}/v1/detections.geojson", params=query)
            httpx.get(f"{base}/v1/lost-items", params={"q": "Fahrrad Paradeplatz"})
        finally:
            access.removeHandler(handler)
    logged = "\n".join(lines)
    assert "/v1/detections.geojson" in logged and "/v1/lost-items" in logged, logged
    assert "?" not in logged and "52.51" not in logged and "Schirm" not in logged and "Fahrrad" not in logged


def test_database_errors_name_no_bound_values(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    database = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with pytest.raises(OperationalError) as raised, database.transaction() as session:
        session.execute(text("INSERT INTO no_such_table VALUES (:place)"), {"place": "Fundort Marktplatz 3"})
    assert "no_such_table" in str(raised.value) and "Marktplatz" not in str(raised.value)


def test_sqlite_file_and_journal_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    (tmp_path / "weights").mkdir()
    settings = Settings(weights_dir=str(tmp_path / "weights"), data_dir=tmp_path / "data")
    with TestClient(create_app(settings, load_in_background=False)) as client:
        create_key(client, Role.ADMIN)  # a write: the WAL file exists now
        files = sorted((tmp_path / "data").glob("stadtblick.db*"))
        assert {p.name for p in files} >= {"stadtblick.db", "stadtblick.db-wal"}
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, f"{path.name}: {oct(path.stat().st_mode)}"


def test_pages_and_answers_carry_security_headers(tmp_path: Path) -> None:
    (tmp_path / "weights").mkdir()
    settings = Settings(
        weights_dir=str(tmp_path / "weights"), data_dir=tmp_path / "data", map_tile_url="https://{s}.tiles.example/{z}"
    )
    with TestClient(create_app(settings, load_in_background=False)) as client:
        for path in ("/healthz", "/ui/map", "/docs", "/openapi.json", "/ui/static/map.js", "/nothing-here"):
            response = client.get(path)
            assert response.headers["x-content-type-options"] == "nosniff", path
            assert response.headers["x-frame-options"] == "DENY", path
        page = client.get("/ui/map")
        policy = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
        assert "img-src 'self' data: blob: https://*.tiles.example" in policy
        assert "script-src 'self' 'sha256-" in policy, "the inline JSON configuration, by its hash"
        docs = client.get("/docs")
        assert "/static/swagger-ui/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text.lower()
        assert client.get("/static/swagger-ui/swagger-ui-bundle.js").status_code == 200
        assert "content-security-policy" not in client.get("/healthz").headers  # only pages load anything


def test_an_unexpected_error_answers_json_500_with_the_security_headers(tmp_path: Path) -> None:
    (tmp_path / "weights").mkdir()
    app = create_app(Settings(weights_dir=str(tmp_path / "weights"), data_dir=tmp_path / "data"))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500 and response.json()["error"]["code"] == "internal_error"
    assert response.headers["x-content-type-options"] == "nosniff" and response.headers["x-frame-options"] == "DENY"


def test_links_never_follow_the_host_header(tmp_path: Path) -> None:
    (tmp_path / "weights").mkdir()
    forged = {"Host": "evil.example"}
    base = {"weights_dir": str(tmp_path / "weights"), "data_dir": tmp_path / "data"}
    with TestClient(create_app(Settings(**base), load_in_background=False)) as client:
        landing = client.get("/ogc", headers=forged).json()
        assert landing["links"] and all(link["href"].startswith("http://testserver/") for link in landing["links"])
    configured = Settings(**base, public_url="https://stadtblick.example.org")
    with TestClient(create_app(configured, load_in_background=False)) as client:
        for links in (
            client.get("/ogc", headers=forged).json()["links"],
            client.get("/ogc/collections").json()["links"],
        ):
            assert all(link["href"].startswith("https://stadtblick.example.org/ogc") for link in links), links


@pytest.fixture
def broken_weights(tmp_path: Path, tiny_yolo11_onnx: Path) -> Path:
    root = tmp_path / "weights"
    model = root / "broken.onnx"
    root.mkdir()
    shutil.copy(tiny_yolo11_onnx, model)
    write_detector(root, model, "broken", [f"c{i}" for i in range(80)], TINY_INPUT)
    (root / "broken" / "model.onnx").write_bytes(b"not onnx")
    return root


def test_server_paths_are_shown_to_admins_only(secure_client, broken_weights: Path) -> None:
    with secure_client(weights_dir=broken_weights) as client:
        admin, inspector = bearer(create_key(client, Role.ADMIN)), bearer(create_key(client, Role.INSPECTOR))
        root = str(broken_weights)
        assert root in client.get("/info", headers=admin).text
        assert root in client.get("/v1/models", headers=admin).text
        photo = jpeg_bytes(synthetic_photo(60, 80))
        refused = client.post("/v1/detect?detectors=broken", content=photo, headers=inspector | JPEG)
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "model_unavailable"
        for response in (refused, client.get("/info", headers=inspector), client.get("/v1/models", headers=inspector)):
            assert root not in response.text and "broken/model.onnx" not in response.text, response.text[:300]
        assert (
            client.get("/v1/models", headers=inspector).json()[0]["error"].startswith("the model could not be loaded")
        )


def test_a_duplicate_shows_the_stored_frame_to_its_owner_only(secure_client, tiny_weights: Path) -> None:
    photo = jpeg_bytes(synthetic_photo(120, 160, seed=31))
    url = "/v1/detect?store=true&drive_id=shared&lat=52.5&lon=13.4"
    with secure_client(weights_dir=tiny_weights, require_anonymisation=False) as client:
        owner = bearer(create_key(client, Role.INSPECTOR, "inspector-a"))
        other = bearer(create_key(client, Role.INSPECTOR, "inspector-b"))
        admin = bearer(create_key(client, Role.ADMIN))
        first = client.post(url, content=photo, headers=owner | JPEG).json()["stored"]
        foreign = client.post(url, content=photo, headers=other | JPEG)
        assert foreign.status_code == 409 and foreign.json()["error"]["code"] == "duplicate_frame"
        assert str(first["frame_id"]) not in foreign.text and "52.5" not in foreign.text
        for key in (owner, admin):
            again = client.post(url, content=photo, headers=key | JPEG).json()["stored"]
            assert again["duplicate"] and again["frame_id"] == first["frame_id"]
