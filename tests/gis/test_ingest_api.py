"""Storing frames over HTTP: POST /v1/detect?store=true and the batch endpoint, with the tiny model."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from gis_helpers import START, along
from helpers import dms, jpeg_bytes, synthetic_photo
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational
from worker_helpers import worker_thread

from service.api.app import create_app
from service.config import Settings

GPS = ExifTags.GPS
PARAMS = {"store": "true", "conf": 0.05, "max_det": 5, "detectors": "road_damage"}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def client(database_url: str, data_dir: Path, road_weights: Path) -> Iterator[TestClient]:
    settings = Settings(
        weights_dir=str(road_weights), data_dir=data_dir, database_url=database_url, inference_workers=1
    )
    with (
        TestClient(create_app(settings, load_in_background=False)) as test_client,
        worker_thread(test_client.app.state.service.runtime),
    ):
        yield test_client


def photo_with_gps(seed: int, lat: float, lon: float, heading: float, when: str) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SecretCam"
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(
        {
            GPS.GPSLatitudeRef: "N",
            GPS.GPSLatitude: dms(lat),
            GPS.GPSLongitudeRef: "E",
            GPS.GPSLongitude: dms(lon),
            GPS.GPSImgDirectionRef: "T",
            GPS.GPSImgDirection: IFDRational(round(heading * 100), 100),
        }
    )
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = when
    return jpeg_bytes(synthetic_photo(240, 320, seed=seed), exif=exif)


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def test_store_keeps_position_detections_and_a_clean_copy(client: TestClient, data_dir: Path) -> None:
    original = photo_with_gps(1, START.lat, START.lon, 90.0, "2025:05:01 10:00:00")
    r = client.post("/v1/detect", params={**PARAMS, "drive_id": "t1"}, files={"file": ("f.jpg", original)})
    assert r.status_code == 200, r.text
    body = r.json()
    stored = body["stored"]
    assert stored["drive_id"] == "t1" and not stored["duplicate"] and stored["position_source"] == "exif"
    assert stored["location"]["lat"] == pytest.approx(START.lat, abs=1e-6)
    assert stored["location"]["heading_deg"] == 90.0
    assert stored["captured_at"] == "2025-05-01T08:00:00Z", "EXIF local time in Europe/Berlin"
    assert [d["id"] for d in stored["detections"]] == [d["id"] for d in body["detections"]] and body["detections"]
    assert all(d["lat"] is not None and d["position_method"] in ("projected", "camera") for d in stored["detections"])

    (image_file,) = [p for p in files_under(data_dir) if p.suffix == ".jpg"]
    saved = image_file.read_bytes()
    with Image.open(io.BytesIO(saved)) as img:
        assert img.size == (320, 240) and not img.getexif()
    for path in files_under(data_dir):  # the database and WAL included
        content = path.read_bytes()
        assert b"SecretCam" not in content and original[:2000] not in content
    photo = client.get(f"/v1/frames/{stored['frame_id']}/image")
    assert photo.status_code == 200 and photo.content == saved

    again = client.post("/v1/detect", params={**PARAMS, "drive_id": "t1"}, content=original)
    assert again.json()["stored"]["duplicate"] and again.json()["stored"]["frame_id"] == stored["frame_id"]
    assert again.json()["stored"]["detections"] == stored["detections"]
    assert client.get("/v1/detections.geojson").json()["numberMatched"] == len(stored["detections"])


def test_request_fields_win_over_exif(client: TestClient) -> None:
    original = photo_with_gps(2, START.lat, START.lon, 90.0, "2025:05:01 10:00:00")
    form = {"lat": "48.1", "lon": "11.5", "heading": "180", "captured_at": "2025-07-01T12:00:00+02:00"}
    r = client.post("/v1/detect", params={**PARAMS, "heading": 270}, data=form, files={"file": ("f.jpg", original)})
    stored = r.json()["stored"]
    assert stored["position_source"] == "request" and stored["drive_id"] == "unassigned"
    assert stored["location"] == {"lat": 48.1, "lon": 11.5, "altitude_m": None, "heading_deg": 270.0}, "query wins"
    assert stored["captured_at"] == "2025-07-01T10:00:00Z"


@pytest.mark.parametrize(
    ("params", "form"),
    [
        ({"lat": 52.5}, {}),
        ({"lat": 100, "lon": 13}, {}),
        ({"drive_id": "a/b"}, {}),
        ({}, {"heading": "north"}),
        ({}, {"lat": "52.5"}),
        ({"captured_at": "noon"}, {}),
    ],
)
def test_invalid_frame_fields_are_422(client: TestClient, params: dict, form: dict) -> None:
    photo = jpeg_bytes(synthetic_photo(seed=3))
    r = client.post("/v1/detect", params={**PARAMS, **params}, data=form, files={"file": ("f.jpg", photo)})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", r.text


def test_without_store_nothing_is_kept(client: TestClient, data_dir: Path) -> None:
    photo = photo_with_gps(4, START.lat, START.lon, 90.0, "2025:05:01 10:00:00")
    r = client.post("/v1/detect", params={"conf": 0.05}, files={"file": ("f.jpg", photo)})
    assert r.status_code == 200 and r.json()["stored"] is None
    assert client.get("/v1/detections.geojson").json()["numberMatched"] == 0
    assert not [p for p in files_under(data_dir) if p.suffix == ".jpg"]


def wait_for(client: TestClient, job_id: str) -> dict:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_batch_of_a_zip_and_loose_files_runs_as_a_job(client: TestClient) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(4):
            here = along(20.0 * i)
            zf.writestr(
                f"drive/{i:03d}.jpg", photo_with_gps(10 + i, here.lat, here.lon, 90.0, f"2025:05:02 09:00:0{i}")
            )
        zf.writestr("__MACOSX/._000.jpg", b"resource fork")
        zf.writestr("drive/broken.jpg", b"\xff\xd8\xff\xe0 truncated")
    loose = photo_with_gps(20, along(80).lat, along(80).lon, 90.0, "2025:05:02 09:00:05")
    r = client.post(
        "/v1/frames/batch",
        params={"conf": 0.05, "max_det": 3, "detectors": "road_damage"},
        data={"drive_id": "b1"},
        files=[("archive", ("drive.zip", archive.getvalue())), ("files", ("last.jpg", loose))],
    )
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert accepted["frames"] == 6 and accepted["status_url"].endswith(f"/v1/jobs/{accepted['job_id']}")
    job = wait_for(client, accepted["job_id"])
    assert job["status"] == "done" and job["total"] == 6 and job["processed"] == 6 and job["failed"] == 1
    assert job["errors"] == ["drive/broken.jpg: The JPEG image is damaged or truncated."]
    segments = client.get("/ogc/collections/road_condition/items", params={"drive_id": "b1"}).json()
    (segment,) = segments["features"]  # 80 m of track: the 20 m tail joins the first 60 m
    assert segment["properties"]["start_time"] == "2025-05-02T07:00:00Z"
    assert segment["properties"]["length_m"] == pytest.approx(80, abs=1)
    detections = client.get("/v1/detections.geojson", params={"drive_id": "b1"}).json()
    assert len({f["properties"]["frame_id"] for f in detections["features"]}) == 5
    repeat = client.post("/v1/frames/batch", data={"drive_id": "b1"}, files=[("files", ("last.jpg", loose))])
    assert wait_for(client, repeat.json()["job_id"])["status"] == "done"
    again = client.get("/v1/detections.geojson", params={"drive_id": "b1"}).json()
    assert again["numberMatched"] == detections["numberMatched"], "a frame uploaded twice is stored once"


@pytest.mark.parametrize(
    ("data", "files", "status", "code"),
    [
        ({}, [("files", ("a.jpg", b"x"))], 422, "invalid_request"),
        ({"drive_id": "b1"}, [("archive", ("a.zip", b"not a zip"))], 400, "invalid_batch"),
        ({"drive_id": "b1"}, [("other", ("a.jpg", b"x"))], 400, "invalid_batch"),
    ],
)
def test_bad_batches(client: TestClient, data: dict, files: list, status: int, code: str) -> None:
    r = client.post("/v1/frames/batch", data=data, files=files)
    assert r.status_code == status and r.json()["error"]["code"] == code, r.text


def test_unknown_job_is_404(client: TestClient) -> None:
    r = client.get("/v1/jobs/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
