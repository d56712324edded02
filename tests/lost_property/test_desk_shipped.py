"""The shipped lost_property detector at the desk, on real photos from the shared validation split:
a blue umbrella is registered as Schirm/blau in one request and found first again by words and by
another photo of it, among other registered items."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from desk_helpers import desk_app
from fastapi.testclient import TestClient
from helpers import jpeg_bytes, shared_path

from training.evaluate import read_labels
from training.retrieval import another_photo

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
UMBRELLA = "coco_000000009448"  # a child under a blue umbrella
OTHERS = (
    "coco_000000000133",
    "coco_000000010363",
    "rfwallet_frame004",
    "rfwallet_frame101",
    "rfwallet_frame152",
    "coco_000000231460",
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    if not (WEIGHTS / "lost_property" / "model.json").is_file():
        pytest.fail("weights/lost_property is not in the checkout")
    with TestClient(desk_app(WEIGHTS, tmp_path_factory.mktemp("desk"))) as c:
        yield c


def _photo(stem: str) -> Path:
    return shared_path("datasets", "lost_property", "images", "val", f"{stem}.jpg")


def test_umbrella_registered_and_found_again(client: TestClient) -> None:
    umbrella = _photo(UMBRELLA)
    r = client.post("/v1/lost-items", files={"photo": ("fund.jpg", umbrella.read_bytes(), "image/jpeg")})
    assert r.status_code == 201, r.text
    item = r.json()
    assert item["category"]["key"] == "schirm" and item["category"]["label_de"] == "Schirm"
    assert "blau" in [c["key"] for c in item["colours"]]
    for stem in OTHERS:
        other = _photo(stem).read_bytes()
        assert client.post("/v1/lost-items", files={"photo": ("x.jpg", other, "image/jpeg")}).status_code == 201

    by_words = client.post("/v1/lost-items/search", json={"text": "blauer Regenschirm"}).json()
    assert by_words["candidates"][0]["item"]["id"] == item["id"]

    image = cv2.cvtColor(cv2.imread(str(umbrella)), cv2.COLOR_BGR2RGB)
    box = read_labels(umbrella, image.shape[1], image.shape[0])[0][0]
    second = another_photo(image, box, np.random.default_rng(3))  # the citizen's own photo of it
    r = client.post("/v1/lost-items/search", files={"photo": ("mein_schirm.jpg", jpeg_bytes(second), "image/jpeg")})
    assert r.status_code == 200, r.text
    assert r.json()["candidates"][0]["item"]["id"] == item["id"]
