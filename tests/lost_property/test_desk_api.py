"""The issue's acceptance test and the register's API: a found umbrella photographed at the desk is
registered as Schirm/umbrella with its colour in one request, and found again by words or a photo."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

from desk_helpers import bag_photo, umbrella_photo
from fastapi.testclient import TestClient
from PIL import Image

FOUND = "2026-05-04T09:00:00+02:00"


def register(client: TestClient, photo: bytes, **fields: str) -> dict:
    response = client.post("/v1/lost-items", files={"photo": ("p.jpg", photo, "image/jpeg")}, data=fields)
    assert response.status_code == 201, response.text
    return response.json()


def test_umbrella_is_registered_and_found_again_by_words_and_photo(client: TestClient) -> None:
    umbrella = register(client, umbrella_photo(), found_at=FOUND, found_place="Tram 4, Paradeplatz")
    assert umbrella["category"] == {"key": "schirm", "label_de": "Schirm", "label_en": "umbrella"}
    assert umbrella["colours"][0]["key"] == "schwarz" and umbrella["colours"][0]["label_en"] == "black"
    assert umbrella["description"]["class_name"] == "umbrella" and umbrella["status"] == "registered"
    found_at = datetime.fromisoformat(FOUND)
    assert datetime.fromisoformat(umbrella["retain_until"]) == found_at + timedelta(days=183)
    register(client, bag_photo(), found_at=FOUND)
    register(client, umbrella_photo(colour=(30, 70, 180)), category="schirm", notes="blauer Knirps")
    register(client, bag_photo((20, 20, 20)), category="taschen", notes="schwarze Tasche")

    listed = client.get("/v1/lost-items", params={"q": "schwarzer Regenschirm"}).json()
    assert [i["id"] for i in listed["items"]] == [umbrella["id"]]
    for text in ("schwarzer Regenschirm", "black umbrella"):
        ranked = client.post("/v1/lost-items/search", json={"text": text}).json()["candidates"]
        assert ranked[0]["item"]["id"] == umbrella["id"], text

    again = umbrella_photo(shift=(-60, 25), scale=1.12, light=1.35, seed=7)
    result = client.post("/v1/lost-items/search", files={"photo": ("q.jpg", again, "image/jpeg")}).json()
    best = result["candidates"][0]
    assert result["query_description"]["category"]["key"] == "schirm"
    assert best["item"]["id"] == umbrella["id"]
    assert {r["kind"] for r in best["reasons"]} == {"category", "colour", "image"}
    assert best["score"] > result["candidates"][1]["score"]


def test_photo_is_stored_without_metadata_and_every_access_is_audited(client: TestClient) -> None:
    item = register(client, umbrella_photo())
    photo = client.get(item["photo_url"])
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    assert not Image.open(io.BytesIO(photo.content)).getexif()
    client.patch(f"/v1/lost-items/{item['id']}", json={"status": "returned"})
    client.get(f"/v1/lost-items/{item['id']}")
    assert client.delete(f"/v1/lost-items/{item['id']}").status_code == 204
    assert client.get(f"/v1/lost-items/{item['id']}").status_code == 404
    events = client.get("/v1/audit", params={"target": "lost_item:"}).json()
    actions = [(e["action"], e["target"]) for e in reversed(events["events"])]
    target = f"lost_item:{item['id']}"
    assert actions == [
        ("create", target), ("read", f"{target}:photo"), ("update", target), ("read", target), ("delete", target)
    ]  # fmt: skip
    assert not list((client.app.state.service.settings.data_dir / "lost_items").rglob("*.jpg"))


def test_filters_corrections_and_paging(client: TestClient) -> None:
    old = register(client, bag_photo(), found_at="2026-01-10T10:00:00+00:00")
    new = register(client, umbrella_photo(), found_at="2026-03-10T10:00:00+00:00", notes="mit Holzgriff")
    assert old["category"]["key"] == "taschen" and old["colours"][0]["key"] == "rot"

    def ids(**params: str) -> list[int]:
        return [i["id"] for i in client.get("/v1/lost-items", params=params).json()["items"]]

    assert ids() == [new["id"], old["id"]]
    assert ids(category="taschen") == ids(color="rot") == ids(found_to="2026-02-01T00:00:00Z") == [old["id"]]
    assert ids(q="Holzgriff") == ids(q="SCHIRM") == ids(q="umbrella black") == [new["id"]]
    page = client.get("/v1/lost-items", params={"limit": 1, "offset": 1}).json()
    assert page["matched"] == 2 and [i["id"] for i in page["items"]] == [old["id"]]

    fixed = client.patch(f"/v1/lost-items/{old['id']}", json={"category": "koffer", "colors": ["braun", "rot"]})
    assert fixed.json()["category"]["label_de"] == "Koffer" and [c["key"] for c in fixed.json()["colours"]] == [
        "braun",
        "rot",
    ]
    assert ids(q="brauner Koffer") == [old["id"]]
    assert client.patch(f"/v1/lost-items/{old['id']}", json={"category": "ufo"}).status_code == 422
    client.patch(f"/v1/lost-items/{old['id']}", json={"status": "disposed"})
    assert ids(status="disposed") == [old["id"]]
    erased = client.patch(f"/v1/lost-items/{old['id']}", json={"status": None, "notes": "x"})
    assert erased.status_code == 422 and erased.json()["error"]["code"] == "invalid_request"
    assert client.get(f"/v1/lost-items/{old['id']}").json()["status"] == "disposed"
    assert (
        client.post("/v1/lost-items/search", json={"text": "Koffer"}).json()["candidates"][0]["item"]["id"] == new["id"]
    ), "only registered items are candidates"
    assert client.get("/v1/lost-items/99999").status_code == 404
    bad = client.post("/v1/lost-items", files={"photo": ("p.jpg", b"not an image", "image/jpeg")})
    assert bad.status_code == 415


def test_british_names_and_the_older_american_spellings_are_both_accepted(client: TestClient) -> None:
    brown = register(client, bag_photo(), category="geldboerse", colours="braun")
    black = register(client, bag_photo(), category="geldboerse", colors="schwarz")
    assert [c["key"] for c in brown["colours"]] == ["braun"] and [c["key"] for c in black["colours"]] == ["schwarz"]

    def ids(**params: str) -> list[int]:
        return [i["id"] for i in client.get("/v1/lost-items", params=params).json()["items"]]

    assert ids(colour="braun") == ids(color="braun") == [brown["id"]]
    for name in ("colours", "colors"):
        fixed = client.patch(f"/v1/lost-items/{brown['id']}", json={name: ["gruen"]})
        assert [c["key"] for c in fixed.json()["colours"]] == ["gruen"], name
        client.patch(f"/v1/lost-items/{brown['id']}", json={"colours": ["braun"]})
    for name in ("colour", "color"):
        found = client.post("/v1/lost-items/search", json={name: "schwarz"}).json()["candidates"]
        assert found[0]["item"]["id"] == black["id"], name


def test_category_and_colours_given_at_the_desk_override_recognition(client: TestClient) -> None:
    item = register(client, bag_photo(), category="geldboerse", colors="braun, schwarz", notes="Name: M. Muster")
    assert item["category"]["key"] == "geldboerse" and [c["key"] for c in item["colours"]] == ["braun", "schwarz"]
    assert item["description"]["category"]["key"] == "taschen", "what was recognised stays in the description"


def test_retention_deletes_photo_and_personal_fields_of_returned_items(client: TestClient) -> None:
    state = client.app.state.service
    kept = register(client, umbrella_photo(), found_at="2020-01-01T00:00:00+00:00", notes="Name: M. Muster")
    gone = register(client, bag_photo(), found_at="2020-01-01T00:00:00+00:00", notes="Name: E. Beispiel")
    client.patch(f"/v1/lost-items/{gone['id']}", json={"status": "returned"})
    report = state.apply_retention()
    assert report.deleted["lost_item_photo"] == 1 and report.files_removed == 1
    minimal = client.get(f"/v1/lost-items/{gone['id']}").json()
    assert minimal["photo_url"] is None and minimal["notes"] is None and minimal["category"]["key"] == "taschen"
    assert client.get(f"/v1/lost-items/{gone['id']}/photo").status_code == 404
    assert client.get(kept["photo_url"]).status_code == 200, "still registered: kept past retain_until"
    assert [i["id"] for i in client.get("/v1/lost-items", params={"q": "Beispiel"}).json()["items"]] == []
    assert datetime.fromisoformat(minimal["retain_until"]) < datetime.now(timezone.utc)
