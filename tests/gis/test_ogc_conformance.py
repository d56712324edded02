"""The Part 1 Core abstract tests of OGC API – Features (the official suite ets-ogcapi-features10,
Annex A of OGC 17-069r4) as requests and assertions against /ogc, on SQLite and PostgreSQL.

Each test names the abstract test (AT) it expresses; the Java suite itself cannot be installed
here (docs/gis.md). Requests start from the landing page and follow its links, as the suite does.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers import need

from service.api.app import create_app
from service.config import Settings
from service.gis.ogc import OPENAPI_JSON

CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
COLLECTIONS = ["road_damage", "graffiti", "road_condition"]
GEOMETRY_FORMATS = {
    "road_damage": "geometry-point",
    "graffiti": "geometry-point",
    "road_condition": "geometry-linestring",
}


def links(document: dict) -> dict[str, dict]:
    """The document's links by relation; every link carries rel and type (AT 23, /req/core/fc-rel-type)."""
    for link in document["links"]:
        assert link.get("rel") and link.get("type") and link.get("href"), link
    return {link["rel"]: link for link in document["links"]}


def get_json(client: TestClient, url: str, media_type: str = "application/json", **params: object) -> dict:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(media_type)
    return response.json()


def landing(client: TestClient) -> dict[str, dict]:
    return links(get_json(client, "/ogc"))


def collection(client: TestClient, collection_id: str) -> dict:
    return get_json(client, f"/ogc/collections/{collection_id}")


def items_url(client: TestClient, collection_id: str) -> str:
    return links(collection(client, collection_id))["items"]["href"]


def api_definition(client: TestClient) -> dict:
    return get_json(client, landing(client)["service-desc"]["href"], "application/vnd.oai.openapi+json")


def item_parameter(client: TestClient, name: str) -> dict:
    operation = api_definition(client)["paths"]["/collections/{collectionId}/items"]["get"]
    (parameter,) = [p for p in operation["parameters"] if p["name"] == name]
    return parameter


def test_landing_page(client: TestClient) -> None:
    """AT 3 /req/core/root-op, AT 4 /req/core/root-success."""
    rels = landing(client)
    assert {"self", "service-desc", "service-doc", "conformance", "data"} <= set(rels)
    assert rels["service-desc"]["type"] == OPENAPI_JSON and rels["service-doc"]["type"] == "text/html"


def test_api_definition_is_valid_openapi_3(client: TestClient) -> None:
    """AT 5 /req/core/api-definition-op, AT 6 /req/core/api-definition-success, /req/oas30/oas-definition-1."""
    validator = need("openapi_spec_validator")
    spec = api_definition(client)
    validator.validate(spec)
    assert spec["openapi"].startswith("3.0.")
    for path in ("/", "/conformance", "/collections", "/collections/{collectionId}/items"):
        assert "get" in spec["paths"][path]


def test_api_definition_as_html_is_served_locally(client: TestClient) -> None:
    """/req/oas30/oas-definition-1: an HTML rendering, Swagger UI from the service itself (no CDN)."""
    page = client.get(landing(client)["service-doc"]["href"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "https://" not in page.text and "http://" not in page.text, "nothing may load from elsewhere"
    for asset in ("/static/swagger-ui/swagger-ui-bundle.js", "/static/swagger-ui/swagger-ui.css"):
        assert f"'{asset}'" in page.text or f'"{asset}"' in page.text
        assert client.get(asset).status_code == 200
    assert "api?f=json" in page.text and '"validatorUrl": null' in page.text, "no validator badge from elsewhere"
    assert client.get("/ogc/api", params={"f": "json"}).json()["openapi"].startswith("3.0")


def test_conformance(client: TestClient) -> None:
    """AT 7 /req/core/conformance-op, AT 8 /req/core/conformance-success."""
    conforms = get_json(client, landing(client)["conformance"]["href"])["conformsTo"]
    assert {f"{CORE}core", f"{CORE}geojson", f"{CORE}oas30"} <= set(conforms)


def test_collections(client: TestClient) -> None:
    """AT 9 /req/core/fc-md-op, AT 10 /req/core/fc-md-success, AT 11 fc-md-links, AT 12 fc-md-items,
    AT 13 /req/core/sfc-md-op and AT 14 /req/core/sfc-md-success (one collection = its entry)."""
    listing = get_json(client, landing(client)["data"]["href"])
    assert "self" in links(listing)
    assert [c["id"] for c in listing["collections"]] == COLLECTIONS
    for entry in listing["collections"]:
        rels = links(entry)
        assert rels["items"]["type"] == "application/geo+json"
        (bbox,) = entry["extent"]["spatial"]["bbox"]
        assert len(bbox) == 4 and -180 <= bbox[0] <= bbox[2] <= 180 and -90 <= bbox[1] <= bbox[3] <= 90
        assert entry["extent"]["spatial"]["crs"] == "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
        assert get_json(client, rels["self"]["href"]) == entry


@pytest.mark.parametrize("collection_id", COLLECTIONS)
def test_items_response(client: TestClient, collection_id: str) -> None:
    """AT 13 /req/core/fc-op (unfiltered), AT 22 /req/core/fc-response, AT 23 fc-links, AT 24 fc-timeStamp,
    numberMatched/numberReturned, and the GeoJSON class (/req/geojson/content)."""
    before = datetime.now(timezone.utc).replace(microsecond=0)
    page = get_json(client, items_url(client, collection_id), "application/geo+json")
    after = datetime.now(timezone.utc)
    assert page["type"] == "FeatureCollection" and isinstance(page["features"], list) and page["features"]
    assert page["numberReturned"] == len(page["features"]) <= page["numberMatched"]
    assert before <= datetime.fromisoformat(page["timeStamp"].replace("Z", "+00:00")) <= after
    assert "self" in links(page)
    for feature in page["features"]:
        assert feature["type"] == "Feature" and "id" in feature and isinstance(feature["properties"], dict)


@pytest.mark.parametrize("collection_id", COLLECTIONS)
def test_feature(client: TestClient, collection_id: str) -> None:
    """AT 25 /req/core/f-op, AT 26 /req/core/f-success, AT 27 /req/core/f-links."""
    url = items_url(client, collection_id)
    for listed in get_json(client, url, "application/geo+json")["features"]:
        feature = get_json(client, f"{url}/{listed['id']}", "application/geo+json")
        assert feature["id"] == listed["id"] and feature["geometry"] == listed["geometry"]
        assert {"self", "collection"} <= set(links(feature))


@pytest.mark.parametrize("name", ["limit", "datetime", "bbox", "offset", "class", "drive_id", "f"])
def test_query_parameters_are_optional_form_style_not_exploded(client: TestClient, name: str) -> None:
    """AT 14 /req/core/fc-bbox-definition, AT 16 /req/core/fc-limit-definition, AT 18 /req/core/fc-time-definition
    (and the same fragment for the other parameters)."""
    parameter = item_parameter(client, name)
    assert parameter["in"] == "query" and parameter["required"] is False
    assert parameter["style"] == "form" and parameter["explode"] is False


def test_parameter_schemas(client: TestClient) -> None:
    """The schema parts of AT 14, 16 and 18."""
    limit = item_parameter(client, "limit")["schema"]
    assert limit["type"] == "integer" and limit["minimum"] >= 0 and limit["default"] >= 0
    assert item_parameter(client, "datetime")["schema"] == {"type": "string"}
    bbox = item_parameter(client, "bbox")["schema"]
    assert bbox["type"] == "array" and (bbox["minItems"], bbox["maxItems"]) == (4, 6)
    assert bbox["items"]["type"] == "number"


@pytest.mark.parametrize("collection_id", COLLECTIONS)
def test_limit_response(client: TestClient, collection_id: str) -> None:
    """AT 17 /req/core/fc-limit-response, with the suite's values: the minimum, the midpoint (at most 100)."""
    schema = item_parameter(client, "limit")["schema"]
    url = items_url(client, collection_id)
    for limit in (schema["minimum"], min(100, schema["minimum"] + (schema["maximum"] - schema["minimum"]) // 2)):
        page = get_json(client, url, "application/geo+json", limit=limit)
        assert 0 < len(page["features"]) <= limit


def in_bbox(geometry: dict, bbox: tuple[float, float, float, float]) -> bool:
    """The geometry's envelope intersects the box (min_lon > max_lon: across the antimeridian)."""
    coords = [geometry["coordinates"]] if geometry["type"] == "Point" else geometry["coordinates"]
    lons, lats = [c[0] for c in coords], [c[1] for c in coords]
    min_lon, min_lat, max_lon, max_lat = bbox
    if not (min(lats) <= max_lat and max(lats) >= min_lat):
        return False
    if min_lon <= max_lon:
        return min(lons) <= max_lon and max(lons) >= min_lon
    return max(lons) >= min_lon or min(lons) <= max_lon


@pytest.mark.parametrize("collection_id", COLLECTIONS)
def test_bbox_response(client: TestClient, collection_id: str) -> None:
    """AT 15 /req/core/fc-bbox-response with the suite's boxes: the extent, across the meridian, the
    equator, the antimeridian, the poles; the extent box returns every feature."""
    meta = collection(client, collection_id)
    (extent,) = meta["extent"]["spatial"]["bbox"]
    url = items_url(client, collection_id)
    everything = get_json(client, url, "application/geo+json", limit=1000)
    boxes = [tuple(extent), (-1.5, 50.0, 1.5, 53.0), (-80, -5, -70, 5), (177, 65, -177, 70)]
    for box in [*boxes, (-180, 85, 180, 90), (-180, -90, 180, -85)]:
        page = get_json(client, url, "application/geo+json", bbox=",".join(map(str, box)), limit=1000)
        assert all(in_bbox(f["geometry"], box) for f in page["features"])
        expected = [f["id"] for f in everything["features"] if in_bbox(f["geometry"], box)]
        assert [f["id"] for f in page["features"]] == expected
    assert page_ids(client, url, extent) == [f["id"] for f in everything["features"]]


def page_ids(client: TestClient, url: str, box: list[float] | tuple[float, ...]) -> list:
    page = get_json(client, url, "application/geo+json", bbox=",".join(map(repr, box)), limit=1000)
    return [f["id"] for f in page["features"]]


@pytest.mark.parametrize("collection_id", ["road_damage", "graffiti"])
def test_a_box_at_a_published_point_selects_it(client: TestClient, collection_id: str) -> None:
    """Published coordinates and filters share one precision: a box that is exactly a published point
    (or has it on its edge) returns that point."""
    url = items_url(client, collection_id)
    for feature in get_json(client, url, "application/geo+json")["features"]:
        lon, lat = feature["geometry"]["coordinates"]
        assert feature["id"] in page_ids(client, url, (lon, lat, lon, lat))
        assert feature["id"] in page_ids(client, url, (lon, lat - 0.01, lon + 0.01, lat))
        assert feature["id"] not in page_ids(client, url, (lon + 1e-7, lat, lon + 0.01, lat + 0.01))


def test_extent_is_at_the_published_precision(client: TestClient) -> None:
    for collection_id in COLLECTIONS:
        (extent,) = collection(client, collection_id)["extent"]["spatial"]["bbox"]
        assert all(round(v, 7) == v for v in extent)


def intervals(extent: list[str | None]) -> list[tuple[str, datetime, datetime]]:
    """The suite's three datetime values from a temporal extent: its start instant, the second quarter
    as start/end, and start/P2D from the date of the second quarter's start."""
    begin, end = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in extent)
    quarter = (end - begin) / 4
    start = begin + quarter
    day = datetime(start.year, start.month, start.day, tzinfo=timezone.utc)
    iso = "%Y-%m-%dT%H:%M:%SZ"
    return [
        (begin.strftime(iso), begin, begin),
        (f"{start.strftime(iso)}/{(start + quarter).strftime(iso)}", start, start + quarter),
        (f"{day.date()}/P2D", day, day + timedelta(days=2)),
    ]


@pytest.mark.parametrize("collection_id", COLLECTIONS)
def test_datetime_response(client: TestClient, collection_id: str) -> None:
    """AT 19 /req/core/fc-time-response with the suite's values; every returned feature's time span
    overlaps the asked one, and every feature that overlaps it is returned."""
    (extent,) = collection(client, collection_id)["extent"]["temporal"]["interval"]
    url = items_url(client, collection_id)
    everything = get_json(client, url, "application/geo+json", limit=1000)["features"]
    first, last = ("first_seen", "last_seen") if collection_id != "road_condition" else ("start_time", "end_time")

    def overlaps(feature: dict, start: datetime, end: datetime) -> bool:
        props = feature["properties"]
        span = [datetime.fromisoformat(props[k].replace("Z", "+00:00")) for k in (first, last)]
        return span[0] <= end and span[1] >= start

    for value, start, end in intervals(extent):
        page = get_json(client, url, "application/geo+json", datetime=value, limit=1000)
        assert [f["id"] for f in page["features"]] == [f["id"] for f in everything if overlaps(f, start, end)], value


@pytest.mark.parametrize("collection_id", COLLECTIONS)
def test_unknown_and_invalid_parameters_are_400(client: TestClient, collection_id: str) -> None:
    """AT 20 /req/core/query-param-invalid, AT 21 /req/core/query-param-unknown (the suite's values)."""
    url = items_url(client, collection_id)
    for params in ({"unknownQueryParameter12345": 1}, {"limit": "unlimited"}, {"f": "xml"}, {"limit": ["1", "2"]}):
        response = client.get(url, params=params)
        assert response.status_code == 400, params
        assert response.json()["error"]["code"] == "invalid_parameter"


@pytest.mark.parametrize(
    "path",
    [
        "/ogc",
        "/ogc/conformance",
        "/ogc/api",
        "/ogc/collections",
        "/ogc/collections/graffiti",
        "/ogc/collections/graffiti/schema",
        "/ogc/collections/graffiti/items/1",
    ],
)
def test_other_paths_refuse_undeclared_parameters_and_take_f_json(client: TestClient, path: str) -> None:
    assert client.get(path, params={"bbox": "0,0,1,1"}).status_code == 400, "bbox is declared for items only"
    assert client.get(path, params={"unknownQueryParameter1": "1"}).status_code == 400
    assert client.get(path, params={"f": "json"}).status_code in (200, 404)


@pytest.mark.parametrize("collection_id", COLLECTIONS)
def test_head_answers_like_get(client: TestClient, collection_id: str) -> None:
    url = items_url(client, collection_id)
    got, head = client.get(url), client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"] == "application/geo+json"
    assert client.head(url, params={"nonsense": "1"}).status_code == 400


@pytest.mark.parametrize("collection_id", COLLECTIONS)
def test_schema_declares_geometry_type_and_describes_every_feature(client: TestClient, collection_id: str) -> None:
    """OGC API – Features Part 5: the schema link gives id, geometry type and property types; every
    feature served matches it, property for property."""
    jsonschema = need("jsonschema")
    rels = links(collection(client, collection_id))
    schema_link = rels["http://www.opengis.net/def/rel/ogc/1.0/schema"]
    assert schema_link["type"] == "application/schema+json"
    schema = get_json(client, schema_link["href"], "application/schema+json")
    geometry = schema["properties"]["geometry"]
    assert geometry == {"format": GEOMETRY_FORMATS[collection_id], "x-ogc-role": "primary-geometry"}
    validator = jsonschema.Draft202012Validator({**schema, "additionalProperties": False})
    for feature in get_json(client, items_url(client, collection_id), "application/geo+json")["features"]:
        flat = {"id": feature["id"], "geometry": feature["geometry"], **feature["properties"]}
        validator.validate(flat)
        assert set(flat) == set(schema["properties"])
        assert GEOMETRY_FORMATS[collection_id] == f"geometry-{feature['geometry']['type'].lower()}"


def test_empty_collections_still_declare_their_geometry(tmp_path: Path) -> None:
    """Before anything is stored, clients learn each collection's geometry type from its schema."""
    (tmp_path / "weights").mkdir()
    settings = Settings(weights_dir=str(tmp_path / "weights"), data_dir=tmp_path / "data", inference_workers=1)
    with TestClient(create_app(settings, load_in_background=False)) as client:
        for collection_id, geometry in GEOMETRY_FORMATS.items():
            page = get_json(client, items_url(client, collection_id), "application/geo+json")
            assert page["features"] == [] and page["numberMatched"] == 0
            schema_url = links(collection(client, collection_id))["http://www.opengis.net/def/rel/ogc/1.0/schema"]
            assert (
                get_json(client, schema_url["href"], "application/schema+json")["properties"]["geometry"]["format"]
                == geometry
            )
            assert collection(client, collection_id)["extent"]["spatial"]["bbox"] == [[-180, -90, 180, 90]]
