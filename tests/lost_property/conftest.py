from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from desk_helpers import desk_app, desk_weights
from fastapi.testclient import TestClient


@pytest.fixture(scope="session")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return desk_weights(tmp_path_factory.mktemp("desk_weights"))


@pytest.fixture
def client(weights: Path, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(desk_app(weights, tmp_path)) as c:
        yield c
