"""Shared fixtures: tiny real ONNX detectors and weights folders (built once per session)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from db_backends import BACKENDS, PostgresServer, PostgresUnavailable, new_database_url
from helpers import TINY_INPUT, export_tiny, write_detector
from s3_helpers import STORES, S3Server, StoreUnderTest, store_under_test


@pytest.fixture(scope="session", autouse=True)
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Apps built by tests keep their database and frames in a temporary folder, never in ./data.

    They run without authentication (as a developer's local service does), so each test is about
    its feature; tests/security builds its apps with `Settings(auth="required")` and real keys.
    Likewise anonymisation: see below.
    """
    patch = pytest.MonkeyPatch()
    patch.setenv("STADTBLICK_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    patch.delenv("STADTBLICK_DATABASE_URL", raising=False)
    patch.delenv("STADTBLICK_FRAME_STORE", raising=False)  # photos in the data folder unless a test says otherwise
    patch.setenv("STADTBLICK_AUTH", "disabled")
    # Storing without a complete anonymiser (faces and plates) is refused by default: the tests of
    # other features store frames of synthetic scenes, so they say explicitly that this is allowed.
    # tests/privacy builds its apps with the anonymiser (a face-square detector, CenterFace).
    patch.setenv("STADTBLICK_REQUIRE_ANONYMISATION", "false")
    patch.setenv("STADTBLICK_ANONYMISE_SOURCES", '["anonymize"]')
    patch.delenv("STADTBLICK_HOST", raising=False)
    yield
    patch.undo()


@pytest.fixture(scope="session")
def tiny_yolo11_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """YOLO11n layout: output (1, 84, N)."""
    return export_tiny("yolo11n.yaml", tmp_path_factory.mktemp("tiny_yolo11"))


@pytest.fixture(scope="session")
def tiny_yolo26_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """YOLO26n end-to-end layout: output (1, 300, 6), no NMS needed."""
    return export_tiny("yolo26n.yaml", tmp_path_factory.mktemp("tiny_yolo26"), nms=False)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory, tiny_yolo11_onnx: Path) -> Path:
    """A weights folder with one working tiny detector named `tiny` (80 generic classes)."""
    root = tmp_path_factory.mktemp("weights")
    write_detector(root, tiny_yolo11_onnx, "tiny", [f"class_{i}" for i in range(80)], TINY_INPUT)
    return root


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server with PostGIS for this test session; skipped where none can be started (never in CI)."""
    try:
        server = PostgresServer().start()
    except PostgresUnavailable as exc:
        if os.environ.get("CI"):
            raise  # scripts/test.sh installs PostgreSQL: in CI a skip would hide a broken install step
        pytest.skip(f"PostgreSQL tests skipped: {exc}")
    yield server
    server.stop()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend the service supports."""
    return new_database_url(request, request.param, tmp_path)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A real S3 HTTP API (moto's server) on a free loopback port, with test credentials in the
    standard AWS variables, where the S3 frame store (obstore) reads them."""
    from moto.server import ThreadedMotoServer

    patch = pytest.MonkeyPatch()
    patch.setenv("AWS_ACCESS_KEY_ID", "testing")
    patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    patch.setenv("AWS_REGION", "us-east-1")
    patch.delenv("AWS_SESSION_TOKEN", raising=False)
    patch.delenv("AWS_ENDPOINT_URL", raising=False)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield S3Server(f"http://{host}:{port}")
    server.stop()
    patch.undo()


@pytest.fixture(params=STORES)
def photo_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreUnderTest:
    """The frame store on each backend: the data folder, and a fresh bucket in a real S3 API."""
    s3 = request.getfixturevalue("s3_server") if request.param == "s3" else None
    return store_under_test(request.param, tmp_path / "data", s3)
