"""A service over each database backend, seeded with two drives (gis_helpers.seeded_app)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from db_backends import BACKENDS, new_database_url
from fastapi import FastAPI
from fastapi.testclient import TestClient
from gis_helpers import seeded_app
from helpers import TINY_INPUT, write_detector


@pytest.fixture(scope="module", params=BACKENDS)
def gis_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """Seeded once per module and backend: the tests using it only read."""
    folder = tmp_path_factory.mktemp(f"gis-{request.param}")
    (folder / "weights").mkdir()
    url = new_database_url(request, request.param, folder)
    return seeded_app(url, folder / "data", folder / "weights")


@pytest.fixture(scope="module")
def client(gis_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(gis_app) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def road_weights(tmp_path_factory: pytest.TempPathFactory, tiny_yolo11_onnx: Path) -> Path:
    """The tiny model dressed as a road damage detector: classes 0 and 1 are pothole and crack."""
    root = tmp_path_factory.mktemp("road_weights")
    names = ["pothole", "crack", *(f"other_{i}" for i in range(78))]
    write_detector(root, tiny_yolo11_onnx, "road_damage", names, TINY_INPUT)
    return root
