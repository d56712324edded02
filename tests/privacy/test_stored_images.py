"""Every stored frame is anonymised and stripped of metadata; without an anonymiser nothing is stored."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from privacy_helpers import FACE_AT, LAT, LON, PLATE_AT, metadata_of, scene, square, stripes, upload

from service.privacy import Anonymiser

SECRETS = (b"SecretCam", b"SN-0042", b"Erika Muster")


def stored_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in (data_dir / "frames").rglob("*") if p.is_file())


def assert_anonymised_copy(jpeg: bytes, original: np.ndarray, anonymiser: Anonymiser) -> None:
    """No metadata; the face and the plate without their detail; outside the anonymiser's mask,
    the photo as it was (up to JPEG rounding)."""
    assert metadata_of(jpeg) == {}
    assert not any(secret in jpeg for secret in SECRETS)
    pixels = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))
    assert stripes(pixels, FACE_AT) < 3 and stripes(pixels, PLATE_AT) < 3
    mask = anonymiser.mask(original.shape, anonymiser.find(original))
    assert mask[square(FACE_AT)].all() and mask[square(PLATE_AT)].all() and mask.mean() < 0.5
    outside = np.abs(pixels.astype(int) - original)[~mask]
    assert outside.mean() < 1.5 and np.percentile(outside, 99) <= 8


def test_a_stored_frame(privacy_app: Callable, privacy_weights: Path, anonymiser: Anonymiser, tmp_path: Path) -> None:
    rgb = scene(1)
    with privacy_app(privacy_weights) as client:
        r = client.post(
            "/v1/detect", params={"store": "true", "drive_id": "d1"}, files={"file": ("f.jpg", upload(rgb))}
        )
        assert r.status_code == 200, r.text
        stored = r.json()["stored"]
        # the position of the EXIF is kept as data, in the database
        assert stored["location"]["lat"] == pytest.approx(LAT, abs=1e-5)
        assert stored["location"]["lon"] == pytest.approx(LON, abs=1e-5)
        assert stored["position_source"] == "exif"
        [file] = stored_files(tmp_path / "data")
        assert_anonymised_copy(file.read_bytes(), rgb, anonymiser)
        photo = client.get(f"/v1/frames/{stored['frame_id']}/image")
        assert photo.status_code == 200 and photo.content == file.read_bytes()


def test_frames_of_a_zipped_batch(
    privacy_app: Callable, privacy_weights: Path, anonymiser: Anonymiser, tmp_path: Path
) -> None:
    frames = {f"drive/{i:03d}.jpg": scene(10 + i) for i in range(2)}
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        for name, rgb in frames.items():
            zf.writestr(name, upload(rgb))
    with privacy_app(privacy_weights) as client:
        r = client.post("/v1/frames/batch", data={"drive_id": "z1"}, files={"archive": ("d.zip", archive.getvalue())})
        assert r.status_code == 202, r.text
        deadline = time.monotonic() + 30
        while (job := client.get(f"/v1/jobs/{r.json()['job_id']}").json())["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert job["status"] == "done" and job["processed"] == 2 and job["failed"] == 0, job
    files = stored_files(tmp_path / "data")
    assert len(files) == 2
    for file in files:
        jpeg = file.read_bytes()
        original = min(frames.values(), key=lambda rgb: _distance(jpeg, rgb))  # which frame this file is
        assert_anonymised_copy(jpeg, original, anonymiser)


def _distance(jpeg: bytes, rgb: np.ndarray) -> float:
    pixels = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")).astype(int)
    return float(np.abs(pixels - rgb).mean())


def _refused(response, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "anonymiser_unavailable"
    assert all(w in error["message"] for w in words), error


def test_nothing_is_stored_without_an_anonymiser(privacy_app: Callable, tmp_path: Path) -> None:
    (tmp_path / "no-weights").mkdir()
    with privacy_app(tmp_path / "no-weights") as client:
        file = {"file": ("f.jpg", upload(scene()))}
        _refused(client.post("/v1/detect", params={"store": "true"}, files=file), "no anonymisation model")
        _refused(client.post("/v1/frames/batch", data={"drive_id": "x"}, files=[("files", ("a.jpg", b"x"))]))
        _refused(client.post("/v1/anonymise", files=file))
        _refused(client.post("/v1/anonymize", files=file))
    assert stored_files(tmp_path / "data") == []


def test_faces_alone_are_not_enough_unless_configured(
    privacy_app: Callable, faces_only_weights: Path, tmp_path: Path
) -> None:
    file = {"file": ("f.jpg", upload(scene()))}
    with privacy_app(faces_only_weights) as client:
        _refused(client.post("/v1/detect", params={"store": "true"}, files=file), "licence_plate")
    assert stored_files(tmp_path / "data") == []
    with privacy_app(faces_only_weights, anonymise_classes=["face"]) as client:
        assert client.post("/v1/detect", params={"store": "true"}, files=file).status_code == 200
    [stored] = stored_files(tmp_path / "data")
    pixels = np.asarray(Image.open(stored).convert("RGB"))
    assert stripes(pixels, FACE_AT) < 3 and stripes(pixels, PLATE_AT) > 20  # as configured: faces only


def test_anonymise_returns_a_clean_jpeg(privacy_app: Callable, privacy_weights: Path, anonymiser: Anonymiser) -> None:
    """Also under the older spelling /v1/anonymize (an alias)."""
    rgb = scene(2)
    with privacy_app(privacy_weights) as client:
        r = client.post("/v1/anonymise", files={"file": ("f.jpg", upload(rgb), "image/jpeg")})
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        assert_anonymised_copy(r.content, rgb, anonymiser)
        raw = client.post("/v1/anonymize", content=upload(rgb), headers={"Content-Type": "image/jpeg"})
        assert raw.status_code == 200 and raw.content == r.content


def test_anonymize_reports_the_obscured_regions(privacy_app: Callable, privacy_weights: Path) -> None:
    with privacy_app(privacy_weights) as client:
        r = client.post("/v1/anonymize", params={"report": "true"}, files={"file": ("f.jpg", upload(scene(3)))})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    report = r.json()
    assert (report["width"], report["height"]) == (320, 240)
    assert {(g["source"], g["class"]) for g in report["regions"]} == {
        ("anonymize", "face"),
        ("anonymize", "licence_plate"),
    }
    assert all(0.05 <= g["confidence"] <= 1 for g in report["regions"])
    for at, cls in ((FACE_AT, "face"), (PLATE_AT, "licence_plate")):
        rows, cols = square(at)
        best = max((g for g in report["regions"] if g["class"] == cls), key=lambda g: g["confidence"])
        box = best["box"]  # the square plus its 25 % margin
        assert box["x1"] < cols.start and box["y1"] < rows.start and box["x2"] > cols.stop and box["y2"] > rows.stop
