"""OGC API – Features Part 1 (Core, GeoJSON, OpenAPI 3.0) documents: landing page, conformance,
collection metadata and schemas, item pages with paging links, and the API definition, which
also decides which query parameters each path accepts.

Only CRS84 (WGS84 lon/lat) is offered, as Part 1 requires; documents are plain dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from service.gis.collections import COLLECTIONS, Collection, Extent
from service.gis.features import iso
from service.gis.filters import DEFAULT_LIMIT, MAX_LIMIT
from service.gis.precision import published
from service.review.status import STATUSES

GEOJSON = "application/geo+json"
JSON = "application/json"
OPENAPI_JSON = "application/vnd.oai.openapi+json;version=3.0"
SCHEMA_JSON = "application/schema+json"
HTML = "text/html"
REL_SCHEMA = "http://www.opengis.net/def/rel/ogc/1.0/schema"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/schemas",
]


def link(href: str, rel: str, type_: str, title: str | None = None) -> dict[str, str]:
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


def landing_page(root: str) -> dict[str, Any]:
    """`root` is the absolute URL of the API, e.g. http://host/ogc."""
    return {
        "title": "stadtblick",
        "description": "Road damage, graffiti and road condition grades from city inspection drives.",
        "links": [
            link(root, "self", JSON, "this document"),
            link(f"{root}/api", "service-desc", OPENAPI_JSON, "the API definition"),
            link(f"{root}/api?f=html", "service-doc", HTML, "the API definition as a web page"),
            link(f"{root}/conformance", "conformance", JSON, "OGC API conformance classes"),
            link(f"{root}/collections", "data", JSON, "the feature collections"),
        ],
    }


def conformance() -> dict[str, Any]:
    return {"conformsTo": CONFORMANCE}


def collection_info(root: str, collection: Collection, extent: Extent) -> dict[str, Any]:
    bbox, (start, end) = extent
    href = f"{root}/collections/{collection.id}"
    # Extents at the published precision, so a bbox at the extent's edge selects its features.
    box = [published(v) for v in bbox] if bbox else [-180.0, -90.0, 180.0, 90.0]
    return {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "itemType": "feature",
        "crs": [CRS84],
        "extent": {
            "spatial": {"bbox": [box], "crs": CRS84},
            "temporal": {"interval": [[iso(start), iso(end)]], "trs": GREGORIAN},
        },
        "links": [
            link(href, "self", JSON, collection.title),
            link(f"{href}/items", "items", GEOJSON, f"{collection.title} as GeoJSON"),
            link(f"{href}/schema", REL_SCHEMA, SCHEMA_JSON, "id, geometry type and properties of the features"),
        ],
    }


def collection_schema(root: str, collection: Collection) -> dict[str, Any]:
    """The features' logical schema (OGC API – Features Part 5, JSON Schema 2020-12)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{root}/collections/{collection.id}/schema",
        "type": "object",
        "title": collection.title,
        "description": collection.description,
        "properties": collection.properties,
    }


def collections_document(root: str, infos: list[dict[str, Any]]) -> dict[str, Any]:
    return {"links": [link(f"{root}/collections", "self", JSON, "the feature collections")], "collections": infos}


def items_document(
    features: list[dict[str, Any]], matched: int, offset: int, limit: int, page_url: PageUrl, collection_url: str
) -> dict[str, Any]:
    links = [
        link(page_url(offset, limit), "self", GEOJSON, "this page"),
        link(collection_url, "collection", JSON, "the collection"),
    ]
    if offset + len(features) < matched:
        links.append(link(page_url(offset + limit, limit), "next", GEOJSON, "next page"))
    if offset > 0:
        links.append(link(page_url(max(0, offset - limit), limit), "prev", GEOJSON, "previous page"))
    return {
        "type": "FeatureCollection",
        "features": features,
        "numberMatched": matched,
        "numberReturned": len(features),
        "timeStamp": iso(datetime.now(timezone.utc).replace(microsecond=0)),
        "links": links,
    }


def item_document(feature: dict[str, Any], item_url: str, collection_url: str) -> dict[str, Any]:
    return {
        **feature,
        "links": [link(item_url, "self", GEOJSON, "this feature"), link(collection_url, "collection", JSON)],
    }


class PageUrl:
    """Builds the URL of another page of the same query (all other parameters kept)."""

    def __init__(self, url: Any):  # a starlette URL
        self.url = url

    def __call__(self, offset: int, limit: int) -> str:
        return str(self.url.include_query_params(offset=offset, limit=limit))


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A query parameter as OGC API – Features defines them: optional, form style, not exploded."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "style": "form",
        "explode": False,
        "schema": schema,
        "description": description,
    }


def _path(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


def _formats(*names: str) -> dict[str, Any]:
    return _query("f", {"type": "string", "enum": list(names)}, "the encoding of the response")


_COLLECTION_ID = _path("collectionId", {"type": "string", "enum": list(COLLECTIONS)}, "collection")
_FEATURE_ID = _path("featureId", {"type": "string"}, "feature id")
_JSON_ONLY = _formats("json")
_ITEM_FILTERS = [
    _query(
        "bbox",
        {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
        "minLon,minLat,maxLon,maxLat (CRS84); 6 numbers with heights are accepted, heights ignored",
    ),
    _query(
        "datetime",
        {"type": "string"},
        "RFC 3339 instant or date, or interval start/end with '..' for an open end, or start/duration",
    ),
    _query(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        "page size; larger values are lowered to the maximum",
    ),
    _query("offset", {"type": "integer", "minimum": 0, "default": 0}, "index of the first feature (paging)"),
    _query("class", {"type": "string"}, "comma-separated class names (damage collections)"),
    _query("drive_id", {"type": "string"}, "only features of this drive"),
    _query(
        "review_status",
        {"type": "array", "items": {"type": "string", "enum": list(STATUSES)}},
        "comma-separated review states (damage collections; docs/review.md)",
    ),
]


@dataclass(frozen=True)
class Operation:
    """One path of the API: what GET answers and which parameters it takes."""

    summary: str
    media_types: tuple[str, ...]
    parameters: list[dict[str, Any]]


PATHS: dict[str, Operation] = {
    "/": Operation("Landing page", (JSON,), [_JSON_ONLY]),
    "/conformance": Operation("Conformance classes", (JSON,), [_JSON_ONLY]),
    "/api": Operation("This API definition (f=html: as a web page)", (OPENAPI_JSON, HTML), [_formats("json", "html")]),
    "/collections": Operation("Feature collections", (JSON,), [_JSON_ONLY]),
    "/collections/{collectionId}": Operation("Collection metadata", (JSON,), [_COLLECTION_ID, _JSON_ONLY]),
    "/collections/{collectionId}/schema": Operation(
        "The features' schema (id, geometry type, properties)", (SCHEMA_JSON,), [_COLLECTION_ID, _JSON_ONLY]
    ),
    "/collections/{collectionId}/items": Operation(
        "Features", (GEOJSON,), [_COLLECTION_ID, *_ITEM_FILTERS, _JSON_ONLY]
    ),
    "/collections/{collectionId}/items/{featureId}": Operation(
        "One feature", (GEOJSON,), [_COLLECTION_ID, _FEATURE_ID, _JSON_ONLY]
    ),
}


def query_problem(path: str, query: list[tuple[str, str]]) -> str | None:
    """Why `query` does not fit what the API definition declares for `path`, or None when it does.

    OGC API – Features answers parameters it does not declare with 400 (/req/core/query-param-unknown)
    instead of ignoring them, so a misspelt filter cannot silently return everything.
    """
    declared = {p["name"]: p for p in PATHS[path].parameters if p["in"] == "query"}
    seen: set[str] = set()
    for name, value in query:
        parameter = declared.get(name)
        if parameter is None:
            return f"{name}: unknown parameter; {path} takes {', '.join(declared)}"
        if name in seen:
            return f"{name}: given more than once"
        seen.add(name)
        allowed = parameter["schema"].get("enum")
        if allowed and value not in allowed:
            return f"{name}: {value!r} is not one of {', '.join(allowed)}"
    return None


def openapi(root: str) -> dict[str, Any]:
    """The OpenAPI 3.0 definition of the /ogc endpoints (the rest of the service is at /openapi.json)."""

    def get(operation: Operation) -> dict[str, Any]:
        content = {media_type: {"schema": {"type": "object"}} for media_type in operation.media_types}
        responses: dict[str, Any] = {
            "200": {"description": operation.summary, "content": content},
            "400": {"description": "invalid or unknown query parameter"},
        }
        if any(p["in"] == "path" for p in operation.parameters):
            responses["404"] = {"description": "not found"}
        return {"get": {"summary": operation.summary, "parameters": operation.parameters, "responses": responses}}

    return {
        "openapi": "3.0.3",
        "info": {"title": "stadtblick OGC API – Features", "version": "1.0.0"},
        "servers": [{"url": root}],
        "paths": {path: get(operation) for path, operation in PATHS.items()},
    }
