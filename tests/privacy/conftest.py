"""Weights with an exact anonymiser (faces: blue squares, plates: yellow ones) and apps that require it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers import TINY_INPUT, square_detector_onnx, write_detector
from privacy_helpers import loaded

from service.api.app import create_app
from service.config import Settings
from service.privacy import AnonymiseConfig, Anonymiser
from service.privacy.sources import build_anonymiser

FACE_AND_PLATE = ["face", "licence_plate"]


@pytest.fixture(scope="session")
def privacy_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`anonymize` finding faces and plates (the trained model's classes), nothing else installed."""
    root = tmp_path_factory.mktemp("privacy_weights")
    model = square_detector_onnx(root / "anonymize.onnx", FACE_AND_PLATE)
    write_detector(root, model, "anonymize", FACE_AND_PLATE, TINY_INPUT)
    return root


@pytest.fixture(scope="session")
def anonymiser(privacy_weights: Path) -> Anonymiser:
    """What the service builds from `privacy_weights` with the default settings."""
    made = build_anonymiser(loaded(privacy_weights), None, AnonymiseConfig())
    assert made is not None
    return made


@pytest.fixture(scope="session")
def faces_only_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faces_only_weights")
    write_detector(root, square_detector_onnx(root / "face.onnx", ["face"]), "anonymize", ["face"], TINY_INPUT)
    return root


@pytest.fixture
def privacy_app(tmp_path: Path) -> Callable[..., contextmanager]:
    """`with privacy_app(weights, **settings) as client:` anonymisation required, as in production."""

    @contextmanager
    def build(weights: Path, **overrides: object) -> Iterator[TestClient]:
        settings = Settings(
            weights_dir=str(weights),
            data_dir=tmp_path / "data",
            inference_workers=1,
            require_anonymisation=True,
            **{"anonymise_sources": ["anonymize"], **overrides},
        )
        with TestClient(create_app(settings, load_in_background=False)) as client:
            yield client

    return build
