"""End to end on real photos: the COCO YOLOv5n from ../shared, imported and served over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from helpers import jpeg_bytes, need, shared_path
from PIL import Image

from service.api.app import create_app
from service.cli.main import main
from service.config import Settings


@pytest.fixture(scope="module")
def coco_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    need("yolov5")
    from training.yolov5_import import import_yolov5

    root = tmp_path_factory.mktemp("coco_weights")
    import_yolov5(shared_path("weights", "yolov5n.pt"), "coco", root)
    with TestClient(create_app(Settings(weights_dir=str(root)), load_in_background=False)) as client:
        yield client


def boxes_of(body: dict, cls: str) -> list[list[float]]:
    return [[d["bbox"][k] for k in ("x1", "y1", "x2", "y2")] for d in body["detections"] if d["class"] == cls]


def test_bus_photo_gives_people_and_the_bus(coco_client: TestClient) -> None:
    photo = shared_path("samples", "bus.jpg").read_bytes()
    r = coco_client.post("/v1/detect", files={"file": ("bus.jpg", photo, "image/jpeg")}, params={"detectors": "coco"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["image"]["width"], body["image"]["height"]) == (810, 1080)
    people, buses = boxes_of(body, "person"), boxes_of(body, "bus")
    assert len(people) >= 3 and len(buses) == 1
    x1, y1, x2, y2 = buses[0]
    assert x1 < 60 and 180 < y1 < 300 and x2 > 760 and 700 < y2 < 820, "the bus spans the photo's width"
    for _, py1, _, py2 in people:
        assert py2 - py1 > 250 and py2 > 800, "the people stand in front of the bus, full height"
    assert all(d["label_de"] for d in body["detections"])


def test_rotated_phone_jpeg_is_detected_upright(coco_client: TestClient) -> None:
    """The bus photo stored sideways (as a phone does) with EXIF orientation 6 finds the same objects."""
    upright = np.asarray(Image.open(shared_path("samples", "bus.jpg")).convert("RGB"))
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways = jpeg_bytes(np.ascontiguousarray(np.rot90(upright, k=1)), exif, quality=95)
    body = coco_client.post("/v1/detect", files={"file": ("IMG.jpg", sideways)}, params={"detectors": "coco"}).json()
    assert (body["image"]["width"], body["image"]["height"]) == (810, 1080)
    (bus,) = boxes_of(body, "bus")
    assert bus[0] < 60 and bus[2] > 760 and 700 < bus[3] < 820
    assert len(boxes_of(body, "person")) >= 3


def test_cli_detect_jsonl_on_real_photos(
    coco_client: TestClient, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STADTBLICK_WEIGHTS_DIR", coco_client.app.state.service.settings.weights_dir)
    assert main(["detect", str(shared_path("samples")), "--detectors", "coco", "--jsonl"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_name = {Path(x["source"]).name: x for x in lines}
    assert set(by_name) == {"bus.jpg", "zidane.jpg"}
    assert boxes_of(by_name["bus.jpg"], "bus") and len(boxes_of(by_name["zidane.jpg"], "person")) >= 2
