"""The service on each frame store, over real HTTP (uvicorn + httpx): a frame is stored, its image
served, and retention removes it; lost-item photos likewise. A store that cannot be reached
answers 503 and loses nothing."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from desk_helpers import bag_photo, umbrella_photo
from fastapi import FastAPI
from fastapi.testclient import TestClient
from gis_helpers import free_port, live_server
from helpers import jpeg_bytes, synthetic_photo
from review_helpers import keys, review_app, store_drive
from s3_helpers import S3Server, StoreUnderTest, store_under_test
from sqlalchemy import func, select, update

from service.api.app import create_app
from service.cli.main import main
from service.config import Settings
from service.faults import FrameStoreUnavailable
from service.storage.models import AuditEvent, Frame, LostItem, utcnow

DETECT = {"store": "true", "detectors": "tiny", "drive_id": "d1"}


def app_on(store: StoreUnderTest, weights: Path, **settings: Any) -> FastAPI:
    """The service on this store (with `settings` changed), its database in the test's data folder."""
    merged = {**store.settings, "database_url": database_url(store), **settings}
    return create_app(Settings(weights_dir=str(weights), inference_workers=1, **merged), load_in_background=False)


def database_url(store: StoreUnderTest) -> str:
    store.data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{store.data_dir / 'stadtblick.db'}"


@contextmanager
def served(app: FastAPI) -> Iterator[httpx.Client]:
    with live_server(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        yield http


def image_path(app: FastAPI, frame_id: int) -> str | None:
    with app.state.service.database.session() as session:
        return session.scalar(select(Frame.image_path).where(Frame.id == frame_id))


def wait_for_job(client: TestClient, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while (job := client.get(f"/v1/jobs/{job_id}").json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    return job


def age_frames(app: FastAPI, days: float) -> None:
    with app.state.service.database.transaction() as session:
        session.execute(update(Frame).values(received_at=utcnow() - timedelta(days)))


def test_a_frame_is_stored_served_and_deleted_by_retention(
    photo_store: StoreUnderTest, tiny_weights: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    app = app_on(photo_store, tiny_weights)
    with served(app) as http:
        upload = jpeg_bytes(synthetic_photo(240, 320, seed=5))
        r = http.post("/v1/detect", params=DETECT, files={"file": ("f.jpg", upload)})
        assert r.status_code == 200, r.text
        frame_id = r.json()["stored"]["frame_id"]
        [stored] = photo_store.stored().values()
        image = http.get(f"/v1/frames/{frame_id}/image")
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
        assert image.content == stored and stored != upload  # the anonymised re-encoding, not the upload

        age_frames(app, 31)
        for name, value in {**photo_store.settings, "database_url": database_url(photo_store)}.items():
            monkeypatch.setenv(f"STADTBLICK_{name.upper()}", str(value))
        assert main(["retention", "run"]) == 0  # the command a cron job runs, on the same store
        assert json.loads(capsys.readouterr().out)["files_removed"] == 1
        assert photo_store.stored() == {}
        assert http.get(f"/v1/frames/{frame_id}/image").status_code == 404
        with app.state.service.database.session() as session:
            assert session.get(Frame, frame_id) is not None  # the frame stays, without its photo
        assert image_path(app, frame_id) is None


def test_a_lost_item_photo_is_served_and_deleted_with_the_item(photo_store: StoreUnderTest, tiny_weights: Path) -> None:
    with served(app_on(photo_store, tiny_weights)) as http:
        r = http.post("/v1/lost-items", files={"photo": ("p.jpg", umbrella_photo(), "image/jpeg")})
        assert r.status_code == 201, r.text
        item = r.json()
        [stored] = photo_store.stored("lost_items").values()
        assert http.get(item["photo_url"]).content == stored
        assert http.delete(f"/v1/lost-items/{item['id']}").status_code == 204
        assert photo_store.stored("lost_items") == {}
        assert http.get(item["photo_url"]).status_code == 404


def test_the_review_export_reads_the_photos_from_the_store(photo_store: StoreUnderTest, tmp_path: Path) -> None:
    app = review_app(database_url(photo_store), tmp_path, **photo_store.settings)
    headers = keys(app)
    with TestClient(app) as client:
        drive = store_drive(client, headers["inspector"])
        confirmed = client.post(
            f"/v1/review/detections/{drive.b}", json={"action": "confirm"}, headers=headers["inspector"]
        )
        assert confirmed.status_code == 200, confirmed.text
        export = client.get("/v1/review/export", params={"detector": "road_damage"}, headers=headers["admin"])
        assert export.status_code == 200, export.text
    with zipfile.ZipFile(io.BytesIO(export.content)) as zf:
        images = [zf.read(name) for name in zf.namelist() if name.startswith("images/")]
    assert len(images) == 1 and images[0] in photo_store.stored().values()


@pytest.mark.parametrize("fault", ["unreachable", "no such bucket"])
def test_a_store_that_cannot_be_used_answers_503_and_loses_nothing(
    fault: str, s3_server: S3Server, tiny_weights: Path, tmp_path: Path
) -> None:
    store = store_under_test("s3", tmp_path / "data", s3_server)
    with TestClient(app_on(store, tiny_weights)) as client:  # stores a frame and an item while the store works
        r = client.post("/v1/detect", params=DETECT, files={"file": ("f.jpg", jpeg_bytes(synthetic_photo(seed=1)))})
        frame_id = r.json()["stored"]["frame_id"]
        age_frames(client.app, 31)
        item = client.post("/v1/lost-items", files={"photo": ("p.jpg", umbrella_photo(), "image/jpeg")}).json()
    before = store.stored(), store.stored("lost_items")
    broken = (
        {"frame_store_endpoint": f"http://127.0.0.1:{free_port()}", "frame_store_timeout_s": 1.0}
        if fault == "unreachable"
        else {"frame_store": "s3://no-such-bucket/stadtblick"}
    )
    with TestClient(app_on(store, tiny_weights, **broken)) as client:
        state = client.app.state.service
        upload = jpeg_bytes(synthetic_photo(seed=2))
        for response in (
            client.post("/v1/detect", params=DETECT, files={"file": ("f.jpg", upload)}),
            client.get(f"/v1/frames/{frame_id}/image"),
            client.post("/v1/lost-items", files={"photo": ("p.jpg", bag_photo(), "image/jpeg")}),
            client.get(item["photo_url"]),
            client.delete(f"/v1/lost-items/{item['id']}"),
        ):
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "frame_store_unavailable"
            assert response.headers["retry-after"] == "30"
        batch = client.post("/v1/frames/batch", data={"drive_id": "b1"}, files=[("files", ("a.jpg", upload))] * 2)
        assert batch.status_code == 202, batch.text
        job = wait_for_job(client, batch.json()["job_id"])  # a fault of the store, not of the frame: the job stops
        assert job["status"] == "failed" and job["failed"] == 2 and "frame store" in job["errors"][0], job
        with pytest.raises(FrameStoreUnavailable):
            state.apply_retention()  # rolled back (as the run at start-up was): the next run deletes it
        assert image_path(client.app, frame_id) is not None
        with state.database.session() as session:
            assert session.scalar(select(func.count()).select_from(Frame)) == 1
            assert session.scalar(select(func.count()).select_from(LostItem)) == 1  # not deleted
            assert not session.scalars(select(AuditEvent).where(AuditEvent.action.in_(["read", "delete"]))).all()
    assert (store.stored(), store.stored("lost_items")) == before
    with TestClient(app_on(store, tiny_weights)) as client:  # the store is back: retention (at start) catches up
        deadline = time.monotonic() + 30
        while store.keys() or image_path(client.app, frame_id) is not None:
            assert time.monotonic() < deadline, "the expired photo was not deleted once the store was back"
            time.sleep(0.05)
