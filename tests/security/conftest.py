"""Apps with authentication turned on (the default outside the tests); keys: auth_helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.config import Settings


@pytest.fixture
def secure_client(tmp_path: Path) -> Callable[..., contextmanager]:
    """`with secure_client(**settings) as client:` an app requiring keys, in its own data folder."""

    @contextmanager
    def build(**overrides: object) -> Iterator[TestClient]:
        weights = overrides.pop("weights_dir", None)
        if weights is None:
            weights = tmp_path / "no-weights"
            weights.mkdir(exist_ok=True)
        overrides.setdefault("inference_workers", 1)
        settings = Settings(auth="required", weights_dir=str(weights), data_dir=tmp_path / "data", **overrides)
        with TestClient(create_app(settings, load_in_background=False)) as client:
            yield client

    return build
