"""POST /v1/detect over HTTP: response shape, parameters, and JSON errors for every bad input."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from helpers import jpeg_bytes, need, synthetic_photo
from PIL import Image


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body


def test_multipart_upload_returns_documented_shape(client: TestClient, photo: bytes) -> None:
    r = client.post("/v1/detect", files={"file": ("frame.jpg", photo, "image/jpeg")}, params={"conf": 0.3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["image"]["width"] == 320 and body["image"]["height"] == 240
    assert body["image"]["location"] is None
    assert body["models"] == [{"name": "tiny", "version": "0.0.1-test"}]
    assert body["timing_ms"]["total"] >= body["timing_ms"]["detectors"]["tiny"] > 0
    dets = body["detections"]
    assert dets, "the tiny model emits boxes at conf 0.3"
    for d in dets:
        assert d["detector"] == "tiny" and d["class"] == f"class_{d['class_id']}"
        assert d["confidence"] >= 0.3
        b = d["bbox"]
        assert 0 <= b["x1"] <= b["x2"] <= 320 and 0 <= b["y1"] <= b["y2"] <= 240
        assert 0 <= d["area_fraction"] <= 1
    again = client.post("/v1/detect", content=photo, headers={"content-type": "image/jpeg"}, params={"conf": 0.3})
    assert [d["id"] for d in again.json()["detections"]] == [d["id"] for d in dets], "ids are stable; raw body works"


def test_thresholds_change_the_result(client: TestClient, photo: bytes) -> None:
    def count(**params: float) -> int:
        r = client.post("/v1/detect", files={"file": ("a.jpg", photo)}, params=params)
        return len(r.json()["detections"])

    assert count(conf=0.9) <= count(conf=0.3) <= count(conf=0.05)
    assert count(conf=0.05, max_det=3) == 3


def test_unknown_detector_is_404(client: TestClient, photo: bytes) -> None:
    r = client.post("/v1/detect", files={"file": ("a.jpg", photo)}, params={"detectors": "tiny,potholes"})
    assert "potholes" in assert_error(r, 404, "unknown_detector")["error"]["message"]


@pytest.mark.parametrize("params", [{"conf": 2}, {"iou": -1}, {"max_det": 0}, {"conf": "high"}])
def test_invalid_parameters_are_422(client: TestClient, photo: bytes, params: dict) -> None:
    assert_error(client.post("/v1/detect", files={"file": ("a.jpg", photo)}, params=params), 422, "invalid_request")


def test_missing_file_field_is_422(client: TestClient) -> None:
    assert_error(client.post("/v1/detect", data={"other": "x"}, files={"x": ("a", b"1")}), 422, "missing_file")


def test_wrong_content_type_is_415(client: TestClient) -> None:
    r = client.post("/v1/detect", content=b'{"a": 1}', headers={"content-type": "application/json"})
    assert_error(r, 415, "unsupported_media_type")


def test_zero_bytes_is_400(client: TestClient) -> None:
    assert_error(client.post("/v1/detect", files={"file": ("a.jpg", b"")}), 400, "empty_image")


def test_text_file_is_415(client: TestClient) -> None:
    r = client.post("/v1/detect", files={"file": ("notes.jpg", b"Dear desk, my umbrella is black.\n" * 20)})
    assert_error(r, 415, "unsupported_image_format")


def test_truncated_jpeg_is_400(client: TestClient, photo: bytes) -> None:
    assert_error(client.post("/v1/detect", files={"file": ("a.jpg", photo[: len(photo) // 2])}), 400, "corrupt_image")


def huge_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of the given size, compressed to a few hundred kB (a decompression bomb)."""
    row = b"\0" + b"\0" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    chunks = [compressor.compress(row) for _ in range(height)]
    data = b"".join(chunks) + compressor.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return len(payload).to_bytes(4, "big") + kind + payload + zlib.crc32(kind + payload).to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([1, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def test_30000_square_png_is_413(client: TestClient) -> None:
    bomb = huge_png(30000, 30000)
    assert len(bomb) < 2_000_000
    assert_error(client.post("/v1/detect", files={"file": ("bomb.png", bomb)}), 413, "image_too_large")


def test_upload_over_byte_limit_is_413(tiny_weights: Path) -> None:
    from service.api.app import create_app
    from service.config import Settings

    app = create_app(Settings(weights_dir=str(tiny_weights), max_upload_bytes=1000), load_in_background=False)
    with TestClient(app) as small:
        big = jpeg_bytes(synthetic_photo(200, 200))
        assert_error(small.post("/v1/detect", files={"file": ("a.jpg", big)}), 413, "payload_too_large")
        assert_error(
            small.post("/v1/detect", content=big, headers={"content-type": "image/jpeg"}), 413, "payload_too_large"
        )


def png_bytes(rgb: np.ndarray, exif: Image.Exif) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG", exif=exif)
    return buf.getvalue()


@pytest.mark.parametrize(("orientation", "turns"), [(6, 1), (8, -1), (3, 2)])
def test_rotated_exif_photo_is_detected_upright(client: TestClient, orientation: int, turns: int) -> None:
    """A portrait photo stored sideways with an EXIF orientation must be processed as displayed.

    Lossless PNG (eXIf chunk) so the upright pixels are exactly equal: detections must be identical.
    """
    upright = synthetic_photo(320, 240, seed=5)  # portrait, 240 wide
    stored = np.ascontiguousarray(np.rot90(upright, k=turns))  # what the sensor wrote
    exif = Image.Exif()
    exif[0x0112] = orientation
    params = {"conf": 0.3}
    rotated = client.post("/v1/detect", files={"file": ("p.png", png_bytes(stored, exif))}, params=params).json()
    plain = client.post("/v1/detect", files={"file": ("u.png", png_bytes(upright, Image.Exif()))}, params=params)
    assert (rotated["image"]["width"], rotated["image"]["height"]) == (240, 320)
    assert plain.json()["detections"], "the comparison needs boxes"
    assert [d["bbox"] for d in rotated["detections"]] == [d["bbox"] for d in plain.json()["detections"]]


def test_heic_photo_is_accepted(client: TestClient) -> None:
    pillow_heif = need("pillow_heif")
    pillow_heif.register_heif_opener()
    buf = io.BytesIO()
    Image.fromarray(synthetic_photo(240, 320, seed=7)).save(buf, "HEIF", quality=90)
    r = client.post("/v1/detect", files={"file": ("IMG_0001.HEIC", buf.getvalue(), "image/heic")})
    assert r.status_code == 200, r.text
    assert r.json()["image"]["format"] == "HEIF"
    assert (r.json()["image"]["width"], r.json()["image"]["height"]) == (320, 240)


def test_exif_gps_is_returned_as_location(client: TestClient) -> None:
    exif = Image.Exif()
    gps = {1: "N", 2: (47.0, 22.0, 30.0), 3: "E", 4: (8.0, 32.0, 24.0), 17: 90.0}
    exif[0x8825] = gps
    r = client.post("/v1/detect", files={"file": ("g.jpg", jpeg_bytes(synthetic_photo(), exif))})
    loc = r.json()["image"]["location"]
    assert loc["lat"] == pytest.approx(47.375, abs=1e-4) and loc["lon"] == pytest.approx(8.54, abs=1e-4)
    assert loc["heading_deg"] == pytest.approx(90.0)
