"""Retention: stored images are deleted after their period; positions, times and detections stay."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from gis_helpers import drive
from sqlalchemy import func, select, update

from service.api.app import create_app
from service.api.state import ServiceState
from service.cli.main import main
from service.config import Settings
from service.storage.models import AuditEvent, DamageRecord, DetectionRecord, Frame, utcnow


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    (tmp_path / "weights").mkdir()
    settings = Settings(weights_dir=str(tmp_path / "weights"), data_dir=tmp_path / "data", inference_workers=1)
    with TestClient(create_app(settings, load_in_background=False)) as test_client:
        yield test_client


def age(state: ServiceState, drive_id: str, days: float) -> None:
    """Pretend the drive's frames were stored `days` ago."""
    with state.database.transaction() as session:
        session.execute(update(Frame).where(Frame.drive_id == drive_id).values(received_at=utcnow() - timedelta(days)))


def images(state: ServiceState, drive_id: str) -> list[str | None]:
    with state.database.session() as session:
        return list(session.scalars(select(Frame.image_path).where(Frame.drive_id == drive_id).order_by(Frame.id)))


def files(tmp_path: Path) -> set[str]:
    return {p.name for p in (tmp_path / "data" / "frames").rglob("*.jpg")}


def test_old_images_go_their_frames_and_detections_stay(client: TestClient, tmp_path: Path) -> None:
    state = client.app.state.service
    drive(state.ingestor, "old", {30.0: "pothole"}, length_m=40)
    drive(state.ingestor, "new", {30.0: "crack"}, length_m=40, seed=100)
    age(state, "old", 31)
    old_files = {Path(p).name for p in images(state, "old")}
    with state.database.session() as session:
        detections_before = session.scalar(select(func.count()).select_from(DetectionRecord))

    report = state.apply_retention()

    assert report.deleted == {"frame_image": 5, "lost_item_photo": 0} and report.files_removed == 5
    assert images(state, "old") == [None] * 5 and all(images(state, "new"))
    assert not old_files & files(tmp_path) and len(files(tmp_path)) == 5
    with state.database.session() as session:
        old = session.scalars(select(Frame).where(Frame.drive_id == "old")).all()
        assert all(f.image_deleted_at is not None and f.lat is not None and f.captured_at for f in old)
        assert session.scalar(select(func.count()).select_from(DetectionRecord)) == detections_before
        assert {d.drive_id for d in session.scalars(select(DamageRecord))} == {"old", "new"}
        deletions = session.scalars(select(AuditEvent).where(AuditEvent.action == "delete")).all()
        assert sorted(e.target for e in deletions) == sorted(f"frame:{f.id}" for f in old)
        assert {e.actor for e in deletions} == {"retention"}
        old_id = old[0].id

    assert client.get(f"/v1/frames/{old_id}/image").status_code == 404
    damages = client.get("/ogc/collections/road_damage/items").json()["features"]
    photos = {f["properties"]["drive_id"]: f["properties"]["photo"] for f in damages}
    assert photos["old"] is None and photos["new"].endswith("/image")
    detections = client.get("/v1/detections.geojson", params={"drive_id": "old"}).json()["features"]
    assert detections and all(f["properties"]["photo"] is None for f in detections)
    assert state.apply_retention().deleted == {"frame_image": 0, "lost_item_photo": 0}  # nothing left to do


def test_a_photo_shared_with_a_younger_frame_stays_until_that_one_expires(client: TestClient, tmp_path: Path) -> None:
    state = client.app.state.service
    drive(state.ingestor, "first", {}, length_m=0)
    drive(state.ingestor, "second", {}, length_m=0)  # the same photo (seed 0) in another drive: one file
    assert len(files(tmp_path)) == 1
    age(state, "first", 40)
    assert state.apply_retention().files_removed == 0 and len(files(tmp_path)) == 1
    assert images(state, "first") == [None]
    age(state, "second", 40)
    assert state.apply_retention().files_removed == 1 and not files(tmp_path)


def test_the_command_line(client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    state = client.app.state.service
    drive(state.ingestor, "old", {}, length_m=20)
    age(state, "old", 10)
    monkeypatch.setenv("STADTBLICK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STADTBLICK_RETENTION_FRAMES_DAYS", "7")
    assert main(["retention", "run", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "would delete": {"frame_image": 3, "lost_item_photo": 0},
        "files_removed": 0,
    }
    assert len(files(tmp_path)) == 3
    assert main(["retention", "run"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "deleted": {"frame_image": 3, "lost_item_photo": 0},
        "files_removed": 3,
    }
    assert not files(tmp_path)


def test_the_service_deletes_on_schedule(tmp_path: Path) -> None:
    (tmp_path / "weights").mkdir()
    settings = Settings(
        weights_dir=str(tmp_path / "weights"),
        data_dir=tmp_path / "data",
        inference_workers=1,
        retention_interval_s=0.05,
    )
    with TestClient(create_app(settings, load_in_background=False)) as client:
        state = client.app.state.service
        drive(state.ingestor, "old", {}, length_m=10)
        assert len(files(tmp_path)) == 2
        age(state, "old", 31)
        deadline = time.monotonic() + 10
        while files(tmp_path) or any(images(state, "old")):  # files go just before the commit
            assert time.monotonic() < deadline, "the scheduled retention job did not run"
            time.sleep(0.05)
