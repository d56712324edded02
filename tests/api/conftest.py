"""An app over the tiny test detector, driven through the real ASGI stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers import jpeg_bytes, synthetic_photo

from service.api.app import create_app
from service.config import Settings


@pytest.fixture(scope="module")
def client(tiny_weights: Path) -> Iterator[TestClient]:
    app = create_app(Settings(weights_dir=str(tiny_weights), inference_workers=2), load_in_background=False)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def photo() -> bytes:
    return jpeg_bytes(synthetic_photo(240, 320, seed=3))
