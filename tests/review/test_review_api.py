"""Review decisions over HTTP on both database backends: statuses, damage records and grades,
roles, audit log, bad input, and the export that `stadtblick train import` reads."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from review_helpers import DRIVE, damage_statuses, grades, import_review, keys, review_app, store_drive

from service.storage.models import Detection
from training.cli import main as train_main


@pytest.fixture
def setup(database_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    app = review_app(database_url, tmp_path)
    headers = keys(app)
    with TestClient(app) as client:
        yield client, headers


def decide(client: TestClient, headers: dict[str, str], detection_id: int, **body: object):
    return client.post(f"/v1/review/detections/{detection_id}", json=body, headers=headers)


def test_decisions_steer_records_grades_exports_and_training_data(setup, tmp_path: Path) -> None:
    client, k = setup
    drive = store_drive(client, k["inspector"])
    assert grades(client, k["gis"]) == {"r1.0": 4, "r1.1": 4, "r1.2": 4}, "one pothole per 60 m segment"

    assert decide(client, k["inspector"], drive.a, action="reject").json()["review_status"] == "rejected"
    assert decide(client, k["inspector"], drive.b, action="confirm").json()["human_confirmed"] is True
    corrected = decide(client, k["inspector"], drive.c, action="correct", **{"class": "crack"}).json()
    assert corrected["review_status"] == "corrected" and corrected["class"] == "crack"
    assert corrected["model_class"] == "pothole" and corrected["model_version"] == "0.0.1-test"
    missed = client.post(
        f"/v1/review/frames/{drive.frames[3]}/detections",
        json={"detector": "road_damage", "class": "crack", "box": [100, 150, 180, 230]},
        headers=k["inspector"],
    )
    assert missed.status_code == 201, missed.text
    assert missed.json()["review_status"] == "added" and missed.json()["model_version"] is None

    # The rejected pothole left its record and its segment's grade; two cracks weigh less than a pothole.
    assert damage_statuses(client, k["gis"]) == [("crack", "added"), ("crack", "corrected"), ("pothole", "confirmed")]
    assert damage_statuses(client, k["gis"], review_status="corrected,added") == [
        ("crack", "added"),
        ("crack", "corrected"),
    ]
    assert grades(client, k["gis"]) == {"r1.0": 1, "r1.1": 4, "r1.2": 3}
    assert client.get("/v1/review/queue", params={"drive_id": DRIVE}, headers=k["gis"]).json()["matched"] == 0

    geojson = client.get("/v1/detections.geojson", params={"drive_id": DRIVE}, headers=k["gis"]).json()
    props = {f["id"]: f["properties"] for f in geojson["features"]}
    assert props[drive.a]["review_status"] == "rejected" and props[drive.a]["damage_id"] is None
    assert props[drive.a]["human_confirmed"] is False and props[drive.a]["detector_version"] == "0.0.1-test"
    assert props[missed.json()["id"]]["detector_version"] is None and props[missed.json()["id"]]["human_confirmed"]
    rejected_csv = client.get("/v1/detections.csv", params={"review_status": "rejected"}, headers=k["gis"]).text
    header, *rows = rejected_csv.strip().splitlines()
    assert "review_status" in header.split(",") and len(rows) == 1 and f"{drive.a}," in rows[0]

    events = client.get("/v1/audit", params={"target": "detection:"}, headers=k["admin"]).json()["events"]
    assert sorted((e["action"], e["target"], e["actor"]) for e in events) == sorted(
        [
            ("reject", f"detection:{drive.a}", "inspector-reviewer"),
            ("confirm", f"detection:{drive.b}", "inspector-reviewer"),
            ("correct", f"detection:{drive.c}", "inspector-reviewer"),
            ("add", f"detection:{missed.json()['id']}", "inspector-reviewer"),
        ]
    )

    data_yaml, boxes = import_review(client, k["admin"], tmp_path)
    assert not list(Path(tempfile.gettempdir()).glob("review-export-*")), "the served zip is removed"
    assert boxes == {("pothole", 128, 160, 192, 224), ("crack", 128, 160, 192, 224), ("crack", 100, 150, 180, 230)}
    provenance = json.loads((data_yaml.parent / "provenance.json").read_text())
    assert provenance["sources"][0]["spec"].startswith("review:")
    assert provenance["sources"][0]["drives"] == {DRIVE: ["2025-05-01"]}
    assert sum(provenance["split"]["images"].values()) == 4, "the rejected pothole's frame stays, without boxes"

    # The same drive as a held-out test source: everything in val, still a valid dataset.
    held_out = tmp_path / "held-out"
    spec = f"review:{tmp_path / 'review-r1.zip'}"
    args = ["import", "--source", spec, "--detector", "road_damage", "--val-fraction", "1", "--out", str(held_out)]
    assert train_main(args) == 0 and train_main(["validate", str(held_out / "data.yaml")]) == 0
    assert json.loads((held_out / "provenance.json").read_text())["split"]["images"] == {"val": 4}


def test_roles_and_bad_input(setup) -> None:
    client, k = setup
    drive = store_drive(client, k["inspector"])
    assert decide(client, k["gis"], drive.a, action="confirm").status_code == 403
    assert client.get(f"/v1/review/frames/{drive.frames[0]}/image", headers=k["gis"]).status_code == 403
    assert (
        client.get("/v1/review/export", params={"detector": "road_damage"}, headers=k["inspector"]).status_code == 403
    )
    with client.app.state.service.database.transaction() as session:
        session.get(Detection, drive.b).detector = "coco"  # a detector inspectors do not review
    refused = decide(client, k["inspector"], drive.b, action="confirm")
    assert refused.status_code == 403 and "road_damage" in refused.json()["error"]["message"]
    assert decide(client, k["admin"], drive.b, action="confirm").status_code == 200

    cases = [
        ({"action": "correct", "box": [150, 10, 100, 50]}, 400, "invalid_box"),
        ({"action": "correct", "box": [0, 0, 400, 50]}, 400, "invalid_box"),
        ({"action": "correct", "class": "graffiti"}, 400, "unknown_class"),
        ({"action": "correct", "class": "pothole"}, 400, "no_change"),
        ({"action": "maybe"}, 422, "invalid_request"),
        ({"action": "confirm", "extra": 1}, 422, "invalid_request"),
    ]
    for body, status, code in cases:
        r = decide(client, k["inspector"], drive.a, **body)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), body
    assert decide(client, k["inspector"], 999_999, action="confirm").status_code == 404
    assert client.get("/v1/review/queue", headers=k["inspector"]).json()["items"][0]["review_status"] == "unreviewed"
    ogc_params = client.get("/ogc/api", headers=k["gis"]).json()["paths"]["/collections/{collectionId}/items"]
    assert "review_status" in {p["name"] for p in ogc_params["get"]["parameters"]}
    for url in ("/ogc/collections/road_damage/items", "/v1/review/queue"):
        r = client.get(
            url, params={"review_status": "maybe"} if "ogc" in url else {"status": "maybe"}, headers=k["admin"]
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_parameter"


def test_a_correction_can_be_undone_and_a_box_moved(setup) -> None:
    client, k = setup
    drive = store_drive(client, k["inspector"])
    moved = decide(client, k["inspector"], drive.a, action="correct", box=[120, 150, 184, 214]).json()
    assert moved["review_status"] == "corrected" and moved["model_box"] == [128.0, 160.0, 192.0, 224.0]
    back = decide(client, k["inspector"], drive.a, action="correct", box=[128, 160, 192, 224]).json()
    assert back["review_status"] == "confirmed" and back["model_box"] is None
    assert decide(client, k["inspector"], drive.a, action="reject").json()["review_status"] == "rejected"
    again = decide(client, k["inspector"], drive.a, action="confirm").json()
    assert again["review_status"] == "confirmed"
    assert damage_statuses(client, k["gis"]) == [
        ("pothole", "confirmed"),
        ("pothole", "unreviewed"),
        ("pothole", "unreviewed"),
    ]
