"""OGC API – Features Part 1 (Core, GeoJSON, OAS 3.0) over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from gis_helpers import D2_START, START, along

from service.geo.geodesy import offset


def features(client: TestClient, collection: str, **params: object) -> dict:
    r = client.get(f"/ogc/collections/{collection}/items", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    return r.json()


def bbox_around(center, metres: float) -> str:
    sw, ne = offset(offset(center, 180, metres), 270, metres), offset(offset(center, 0, metres), 90, metres)
    return f"{sw.lon},{sw.lat},{ne.lon},{ne.lat}"


def assert_error(response, status: int, code: str = "invalid_parameter") -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == code


def test_landing_page_conformance_and_api_definition(client: TestClient) -> None:
    landing = client.get("/ogc").json()
    rels = {link["rel"]: link for link in landing["links"]}
    assert set(rels) >= {"self", "service-desc", "conformance", "data"}
    assert rels["service-desc"]["href"].endswith("/ogc/api") and rels["data"]["href"].endswith("/ogc/collections")
    conforms = client.get("/ogc/conformance").json()["conformsTo"]
    for cls in ("core", "geojson", "oas30"):
        assert f"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/{cls}" in conforms
    api = client.get("/ogc/api")
    assert api.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    spec = api.json()
    assert spec["openapi"].startswith("3.0") and "/collections/{collectionId}/items" in spec["paths"]
    assert client.get("/ogc", params={"f": "html"}).status_code == 400


def test_collections_have_extents(client: TestClient) -> None:
    listing = client.get("/ogc/collections").json()
    assert [c["id"] for c in listing["collections"]] == ["road_damage", "graffiti", "road_condition"]
    damage = client.get("/ogc/collections/road_damage").json()
    (bbox,) = damage["extent"]["spatial"]["bbox"]
    assert bbox[0] == pytest.approx(along(40, D2_START).lon, abs=1e-5)
    assert bbox[3] == pytest.approx(D2_START.lat, abs=1e-4)
    (interval,) = damage["extent"]["temporal"]["interval"]
    assert interval == ["2025-05-01T08:00:11Z", "2025-06-01T09:00:07Z"]
    assert {link["rel"] for link in damage["links"]} >= {"self", "items"}
    assert_error(client.get("/ogc/collections/potholes"), 404, "not_found")


def test_items_paging_visits_every_feature_once(client: TestClient) -> None:
    first = features(client, "road_condition")
    assert first["numberMatched"] == 8 and first["numberReturned"] == 8, "6 segments of d1, 2 of d2"
    seen, url, pages = [], "/ogc/collections/road_condition/items?limit=3", 0
    while url:
        page = client.get(url).json()
        seen += [f["id"] for f in page["features"]]
        links = {link["rel"]: link["href"] for link in page["links"]}
        assert ("prev" in links) == (pages > 0)
        url, pages = links.get("next"), pages + 1
    assert pages == 3 and sorted(seen) == sorted(f["id"] for f in first["features"]) and len(set(seen)) == 8
    assert features(client, "road_damage", limit=5000)["numberReturned"] == 5, "limit above 1000 is lowered"
    default = features(client, "road_damage")
    assert default["numberReturned"] == 5 and default["timeStamp"].endswith("Z")


def test_bbox_filter(client: TestClient) -> None:
    near_potholes = features(client, "road_damage", bbox=bbox_around(along(130), 20))
    assert [f["properties"]["class"] for f in near_potholes["features"]] == ["pothole"] * 3
    d2 = features(client, "road_condition", bbox=bbox_around(D2_START, 5))
    assert {f["properties"]["drive_id"] for f in d2["features"]} == {"d2"}
    assert features(client, "graffiti", bbox="-10,-10,-9,-9")["numberMatched"] == 0
    antimeridian = features(client, "road_damage", bbox="170,50,-170,60")
    assert antimeridian["numberMatched"] == 0
    wide_around_the_world = features(client, "road_damage", bbox="10,50,-170,60")
    assert wide_around_the_world["numberMatched"] == 5


@pytest.mark.parametrize("bbox", ["1,2,3", "a,b,c,d", "1,2,3,4,5", "0,60,1,50", "0,0,200,1", "nan,0,1,1", "", "1,,2,3"])
def test_malformed_bbox_is_400(client: TestClient, bbox: str) -> None:
    assert_error(client.get("/ogc/collections/road_damage/items", params={"bbox": bbox}), 400)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-05-01", 4),
        ("2025-05-01T08:00:11Z", 1),
        ("2025-05-01T10:00:11+02:00", 1),
        ("2025-05-01T00:00:00Z/2025-05-02T00:00:00Z", 4),
        ("../2025-05-15T00:00:00Z", 4),
        ("2025-05-15T00:00:00Z/..", 1),
        ("2025-05-15T00:00:00Z/", 1),
        ("2024-01-01/2024-12-31", 0),
    ],
)
def test_datetime_filter(client: TestClient, value: str, expected: int) -> None:
    assert features(client, "road_damage", datetime=value)["numberMatched"] == expected


@pytest.mark.parametrize(
    "value", ["yesterday", "2025-13-01", "../..", "2025-05-02/2025-05-01", "2025-05-01T25:00:00Z", "a/b/c"]
)
def test_malformed_datetime_is_400(client: TestClient, value: str) -> None:
    assert_error(client.get("/ogc/collections/road_damage/items", params={"datetime": value}), 400)


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "ten"}, {"offset": "-1"}, {"class": "x;drop table"}])
def test_other_malformed_parameters_are_400(client: TestClient, params: dict) -> None:
    assert_error(client.get("/ogc/collections/road_damage/items", params=params), 400)


def test_single_features(client: TestClient) -> None:
    listing = features(client, "road_condition", drive_id="d1", limit=100)
    grades = [f["properties"]["grade"] for f in listing["features"]]
    assert max(grades) == 5 and min(grades) == 1
    segment = client.get("/ogc/collections/road_condition/items/d1.2")
    assert segment.headers["content-type"].startswith("application/geo+json")
    body = segment.json()
    assert body["geometry"]["type"] == "LineString" and body["properties"]["grade"] == 5
    assert {link["rel"] for link in body["links"]} == {"self", "collection"}
    graffiti = features(client, "graffiti")["features"][0]
    assert client.get(f"/ogc/collections/graffiti/items/{graffiti['id']}").status_code == 200
    assert_error(client.get(f"/ogc/collections/road_damage/items/{graffiti['id']}"), 404, "not_found")
    for missing in ("999", "abc", "d9.0"):
        assert_error(client.get(f"/ogc/collections/road_condition/items/{missing}"), 404, "not_found")
        assert_error(client.get(f"/ogc/collections/road_damage/items/{missing}"), 404, "not_found")


def test_damage_feature_links_its_best_photo(client: TestClient) -> None:
    (feature,) = features(client, "road_damage", bbox=bbox_around(D2_START, 60))["features"]
    props = feature["properties"]
    assert props["count"] == 3 and props["max_confidence"] == pytest.approx(0.8)
    photo = client.get(props["photo"])
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    assert_error(client.get("/v1/frames/99999/image"), 404, "not_found")


def test_detection_exports_share_the_filters(client: TestClient) -> None:
    everything = client.get("/v1/detections.geojson").json()
    assert everything["numberMatched"] == 8 and everything["features"][0]["geometry"]["type"] == "Point"
    d2 = client.get("/v1/detections.geojson", params={"bbox": bbox_around(D2_START, 60)}).json()
    assert d2["numberMatched"] == 3 and {f["properties"]["drive_id"] for f in d2["features"]} == {"d2"}
    cracks = client.get("/v1/detections.geojson", params={"class": "crack", "detector": "road_damage"}).json()
    assert cracks["numberMatched"] == 1
    assert client.get("/v1/detections.geojson", params={"detector": "graffiti"}).json()["numberMatched"] == 0
    csv = client.get("/v1/detections.csv", params={"datetime": "2025-06-01"})
    assert csv.headers["content-type"].startswith("text/csv")
    header, *rows = csv.text.strip().splitlines()
    assert header.startswith("id,detection_key,detector") and len(rows) == 3
    empty = client.get("/v1/detections.csv", params={"bbox": "0,0,1,1"}).text.strip().splitlines()
    assert empty == [header]
    assert_error(client.get("/v1/detections.csv", params={"datetime": "soon"}), 400)
    assert START.lat < d2["features"][0]["geometry"]["coordinates"][1]
