"""Health, readiness, metrics, info, model cards, OpenAPI; a broken model does not take others down."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from helpers import TINY_INPUT, jpeg_bytes, synthetic_photo, write_detector

from service.api.app import create_app
from service.config import Settings


def test_health_info_metrics_and_docs(client: TestClient, photo: bytes) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["detectors"] == {"tiny": "ready"}
    client.post("/v1/detect", files={"file": ("a.jpg", photo)})
    metrics = client.get("/metrics").text
    assert "stadtblick_images_total" in metrics and 'stadtblick_inference_seconds_count{detector="tiny"}' in metrics
    assert 'route="/v1/detect"' in metrics
    info = client.get("/info").json()
    assert info["default_detectors"] == ["tiny"] and info["version"]
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "multipart/form-data" in spec["paths"]["/v1/detect"]["post"]["requestBody"]["content"]


def test_model_cards_are_listed(client: TestClient) -> None:
    (model,) = client.get("/v1/models").json()
    assert model["name"] == "tiny" and model["status"] == "ready"
    assert model["card"]["classes"][3] == {
        "id": 3,
        "name": "class_3",
        "label_de": "class_3 (de)",
        "label_en": "class_3",
    }
    assert len(model["card"]["files"]["fp32"]["sha256"]) == 64


def test_not_ready_before_models_load(tiny_weights: Path) -> None:
    app = create_app(Settings(weights_dir=str(tiny_weights)))
    raw = TestClient(app)  # no context manager: the lifespan (model loading) never runs
    assert raw.get("/healthz").status_code == 200
    assert raw.get("/readyz").status_code == 503
    r = raw.post("/v1/detect", files={"file": ("a.jpg", jpeg_bytes(synthetic_photo()))})
    assert r.status_code == 503 and r.headers["retry-after"] and r.json()["error"]["code"] == "not_ready"


def test_broken_model_is_reported_and_others_keep_working(tmp_path: Path, tiny_yolo11_onnx: Path) -> None:
    names = [f"c{i}" for i in range(80)]
    write_detector(tmp_path, tiny_yolo11_onnx, "good", names, TINY_INPUT)
    broken = write_detector(tmp_path, tiny_yolo11_onnx, "broken", names, TINY_INPUT)
    (broken / "model.onnx").write_bytes(b"\0" * 10)
    app = create_app(Settings(weights_dir=str(tmp_path)), load_in_background=False)
    with TestClient(app) as c:
        photo = jpeg_bytes(synthetic_photo())
        assert c.get("/readyz").json()["detectors"] == {"broken": "unavailable", "good": "ready"}
        r = c.post("/v1/detect", files={"file": ("a.jpg", photo)})
        assert r.status_code == 200 and r.json()["models"][0]["name"] == "good"
        r = c.post("/v1/detect", files={"file": ("a.jpg", photo)}, params={"detectors": "good,broken"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "model_unavailable"
        assert str(broken / "model.onnx") in r.json()["error"]["message"]
        status = {m["name"]: m for m in c.get("/v1/models").json()}
        assert status["broken"]["status"] == "unavailable" and "model.onnx" in status["broken"]["error"]


def test_several_detectors_share_one_decoded_image(tmp_path: Path, tiny_yolo11_onnx: Path) -> None:
    names = [f"c{i}" for i in range(80)]
    write_detector(tmp_path, tiny_yolo11_onnx, "one", names, TINY_INPUT)
    write_detector(tmp_path, tiny_yolo11_onnx, "two", names, TINY_INPUT, enabled_by_default=False)
    app = create_app(Settings(weights_dir=str(tmp_path)), load_in_background=False)
    with TestClient(app) as c:
        photo = jpeg_bytes(synthetic_photo())
        assert [m["name"] for m in c.post("/v1/detect", files={"file": ("a", photo)}).json()["models"]] == ["one"]
        body = c.post("/v1/detect", files={"file": ("a", photo)}, params={"detectors": "one,two", "conf": 0.3}).json()
        per = {name: [d["bbox"] for d in body["detections"] if d["detector"] == name] for name in ("one", "two")}
        assert per["one"] and per["one"] == per["two"]
        assert set(body["timing_ms"]["detectors"]) == {"one", "two"}
