"""The audit log: reads and writes of stored frames, who did them, paging and filters; frames
and jobs are private to the inspector key that stored them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from auth_helpers import bearer, create_key
from helpers import jpeg_bytes, synthetic_photo
from sqlalchemy import func, select

from service.auth import Principal, Role
from service.storage import audit
from service.storage.models import AuditEvent


@pytest.fixture
def client(secure_client, tiny_weights: Path) -> Iterator:
    with secure_client(weights_dir=tiny_weights) as test_client:
        yield test_client


def _store(client, headers: dict[str, str], seed: int) -> int:
    photo = jpeg_bytes(synthetic_photo(120, 160, seed=seed))
    response = client.post(
        "/v1/detect?store=true&drive_id=d1&lat=52.52&lon=13.40",
        content=photo,
        headers={**headers, "Content-Type": "image/jpeg"},
    )
    assert response.status_code == 200, response.text
    return response.json()["stored"]["frame_id"]


def test_frame_reads_and_writes_are_audited_and_private(client) -> None:
    anna, ben = bearer(create_key(client, Role.INSPECTOR, "anna")), bearer(create_key(client, Role.INSPECTOR, "ben"))
    admin, gis = bearer(create_key(client, Role.ADMIN, "chief")), bearer(create_key(client, Role.GIS, "qgis"))
    frame = _store(client, anna, seed=1)

    assert client.get(f"/v1/frames/{frame}/image", headers=anna).status_code == 200
    assert client.get(f"/v1/frames/{frame}/image", headers=ben).status_code == 404  # not hers: as if absent
    assert client.get(f"/v1/frames/{frame}/image", headers=gis).status_code == 403
    assert client.get(f"/v1/frames/{frame}/image", headers=admin).status_code == 200

    log = client.get("/v1/audit", headers=admin, params={"target": f"frame:{frame}"}).json()
    assert [(e["actor"], e["action"]) for e in log["events"]] == [
        ("chief", "read"),
        ("anna", "read"),
        ("anna", "create"),
    ]
    assert log["matched"] == 3 and all(e["key_id"] and e["at"] for e in log["events"])


def test_jobs_are_private_to_the_key_that_started_them(client) -> None:
    anna, ben = bearer(create_key(client, Role.INSPECTOR, "anna")), bearer(create_key(client, Role.INSPECTOR, "ben"))
    files = [("files", ("a.jpg", jpeg_bytes(synthetic_photo(120, 160, seed=5)), "image/jpeg"))]
    job = client.post("/v1/frames/batch", data={"drive_id": "d2"}, files=files, headers=anna).json()["job_id"]
    assert client.get(f"/v1/jobs/{job}", headers=ben).status_code == 404
    deadline = time.monotonic() + 30
    while (status := client.get(f"/v1/jobs/{job}", headers=anna).json())["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert status["status"] == "done" and status["processed"] == 1
    admin = bearer(create_key(client, Role.ADMIN))
    events = client.get("/v1/audit", headers=admin, params={"actor": "anna", "action": "create"}).json()["events"]
    assert [e["target"].split(":")[0] for e in events] == ["frame"]  # batch frames are audited too


def test_audit_filters_and_paging(client) -> None:
    actor = Principal("k1", "someone", Role.INSPECTOR)
    with client.app.state.service.database.transaction() as session:
        for i in range(7):
            audit.record(session, actor, audit.READ if i % 2 else audit.CREATE, f"frame:{i}")
        audit.record(session, actor, audit.DELETE, "lost_item:3")
    admin = bearer(create_key(client, Role.ADMIN))

    def get(**params: object) -> dict:
        response = client.get("/v1/audit", headers=admin, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    assert get(actor="someone")["matched"] == 8
    assert [e["target"] for e in get(actor="someone", limit=3)["events"]] == ["lost_item:3", "frame:6", "frame:5"]
    assert [e["target"] for e in get(actor="someone", limit=3, offset=3)["events"]] == ["frame:4", "frame:3", "frame:2"]
    assert get(target="frame:", action="read")["matched"] == 3
    assert get(target="lost_item:")["matched"] == 1
    assert get(since="2000-01-01T00:00:00Z", until="2999-01-01T00:00:00+02:00")["matched"] >= 8
    assert get(since="2999-01-01T00:00:00Z")["matched"] == 0
    assert get(since="2000-01-01T00:00:00", until="2999-01-01")["matched"] >= 8  # no offset: UTC (OGC rules)
    for bad in ("2025-13-01", "0000-01-01T00:00:00Z", "0001-01-01T00:30:00+01:00", "yesterday"):
        response = client.get("/v1/audit", headers=admin, params={"since": bad})
        assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request", bad
    assert client.get("/v1/audit", headers=admin, params={"limit": 0}).status_code == 422


def test_an_audit_entry_rolls_back_with_its_action(client) -> None:
    db = client.app.state.service.database
    with pytest.raises(RuntimeError), db.transaction() as session:
        audit.record(session, Principal("k1", "someone", Role.DESK), audit.DELETE, "lost_item:9")
        session.flush()
        raise RuntimeError("the deletion failed")
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0
