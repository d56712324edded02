"""`stadtblick edge run` on a synthetic drive: events, positions, privacy, and agreement with the server."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from edge_helpers import DAMAGES, SPEED_MPS
from fastapi.testclient import TestClient
from gis_helpers import T0, along
from PIL import Image

from service.api.app import create_app
from service.cli.main import main
from service.config import Settings
from service.edge.outbox import OUTBOX_FILE, Outbox
from service.geo.geodesy import LonLat, distance_m


def run_edge(drive_inputs: tuple[Path, Path], out: Path, *extra: str) -> int:
    video, gpx = drive_inputs
    args = ["edge", "run", "--source", str(video), "--gps", str(gpx), "--out", str(out)]
    return main([*args, "--video-start", T0.isoformat(), "--no-progress", *extra])


@pytest.fixture(scope="module")
def drive(tmp_path_factory: pytest.TempPathFactory, drive_inputs: tuple[Path, Path], square_weights: Path) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STADTBLICK_WEIGHTS_DIR", str(square_weights))
        mp.setenv("STADTBLICK_INTRA_OP_THREADS", "1")
        out = tmp_path_factory.mktemp("drive")
        assert run_edge(drive_inputs, out) == 0
    return out


def features(drive: Path) -> list[dict]:
    return json.loads((drive / "detections.geojson").read_text())["features"]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_each_damage_seen_in_several_frames_is_one_event_at_its_place(drive: Path) -> None:
    found = features(drive)
    assert [f["properties"]["class"] for f in found] == [d.class_name for d in DAMAGES]
    for f, damage in zip(found, DAMAGES, strict=True):
        p = f["properties"]
        assert p["sightings"] >= 3  # one frame every 4 m over the 12 m a damage is visible
        assert p["position_method"] == "projected"
        where = LonLat(*f["geometry"]["coordinates"])
        assert distance_m(where, along(damage.at_m)) < 2.0, p
        # the camera was where the GPS track says at the best frame's time, heading east
        driven = SPEED_MPS * (at(p["captured_at"]) - T0).total_seconds()
        assert distance_m(LonLat(*p["camera_position"]), along(driven)) < 0.3
        assert p["heading_deg"] == pytest.approx(90.0, abs=0.5)
        # seen while 3..15 m ahead of the camera
        first, last = (SPEED_MPS * (at(p[k]) - T0).total_seconds() for k in ("first_seen", "last_seen"))
        assert damage.at_m - 15 < first < last <= damage.at_m - 3


def test_outputs_int8_anonymised_jpegs_and_an_outbox(drive: Path) -> None:
    run = json.loads((drive / "run.json").read_text())
    assert run["status"] == "finished" and run["events"] == 3
    assert run["frames_read"] == 80 and 8 <= run["frames_analysed"] <= 11  # every 4 m of 40 m
    assert run["detectors"][0] | {"version": None} == {
        "name": "road_damage",
        "version": None,
        "variant": "int8",
        "file": "model.int8.onnx",
    }
    assert run["anonymiser"]["name"] == "anonymize"
    for f in features(drive):
        for key in ("crop", "frame"):
            with Image.open(drive / f["properties"][key]) as img:
                assert img.format == "JPEG" and not img.getexif() and not img.info.get("exif")
        face = np.asarray(Image.open(drive / f["properties"]["frame"]))[8:72, 8:72, 2].astype(int)
        assert np.abs(np.diff(face, axis=0)).mean() < 3  # its stripes are gone (sharp: ~28)
    outbox = Outbox(drive / OUTBOX_FILE)
    assert outbox.counts() == {"pending": 3, "sent": 0, "failed": 0}
    outbox.close()


def test_a_rerun_of_the_drive_adds_nothing(drive: Path, drive_inputs: tuple[Path, Path], edge_env: Path) -> None:
    before = features(drive)
    assert run_edge(drive_inputs, drive, "--precision", "fp32") == 0
    assert [f["id"] for f in features(drive)] == [f["id"] for f in before]
    assert json.loads((drive / "run.json").read_text())["detectors"][0]["variant"] == "fp32"


def test_events_match_what_the_server_finds_on_the_same_frames(drive: Path, edge_env: Path) -> None:
    settings = Settings(weights_dir=str(edge_env), inference_workers=1)
    with TestClient(create_app(settings, load_in_background=False)) as client:
        for f in features(drive):
            p = f["properties"]
            data = (drive / p["frame"]).read_bytes()
            r = client.post("/v1/detect", params={"detectors": "road_damage"}, files={"file": ("f.jpg", data)})
            assert r.status_code == 200, r.text
            [server] = r.json()["detections"]
            assert server["class"] == p["class"]
            assert server["confidence"] == pytest.approx(p["confidence"], abs=0.05)
            box = server["bbox"]
            assert [box["x1"], box["y1"], box["x2"], box["y2"]] == pytest.approx(p["bbox"], abs=4.0)


def test_status_shows_the_outbox(drive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["edge", "status", str(drive)]) == 0
    out = capsys.readouterr().out
    assert "outbox: 3 pending, 0 sent, 0 failed" in out
    assert json.loads((drive / "run.json").read_text())["drive_id"] == f"edge-{T0:%Y%m%dT%H%M%SZ}"


def test_time_sampling_without_gps(tmp_path: Path, drive_inputs: tuple[Path, Path], edge_env: Path) -> None:
    video, _ = drive_inputs
    args = ["edge", "run", "--source", str(video), "--out", str(tmp_path), "--every-seconds", "0.8"]
    assert main([*args, "--video-start", (T0 + timedelta(hours=1)).isoformat(), "--no-progress"]) == 0
    found = features(tmp_path)
    assert len(found) == 3 and all(f["geometry"] is None for f in found)
    assert json.loads((tmp_path / "run.json").read_text())["frames_analysed"] == 10
