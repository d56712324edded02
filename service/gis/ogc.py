"""OGC API – Features Part 1 (Core, GeoJSON, OpenAPI 3.0) documents: landing page, conformance,
collection metadata, item pages with paging links, and the API definition.

Only CRS84 (WGS84 lon/lat) is offered, as Part 1 requires; documents are plain dicts.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from service.gis.collections import COLLECTIONS, Collection, Extent
from service.gis.features import iso
from service.gis.filters import DEFAULT_LIMIT, MAX_LIMIT
from service.review.status import STATUSES

GEOJSON = "application/geo+json"
JSON = "application/json"
OPENAPI_JSON = "application/vnd.oai.openapi+json;version=3.0"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
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
            link(f"{root}/conformance", "conformance", JSON, "OGC API conformance classes"),
            link(f"{root}/collections", "data", JSON, "the feature collections"),
        ],
    }


def conformance() -> dict[str, Any]:
    return {"conformsTo": CONFORMANCE}


def collection_info(root: str, collection: Collection, extent: Extent) -> dict[str, Any]:
    bbox, (start, end) = extent
    href = f"{root}/collections/{collection.id}"
    return {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "itemType": "feature",
        "crs": [CRS84],
        "extent": {
            "spatial": {"bbox": [list(bbox) if bbox else [-180.0, -90.0, 180.0, 90.0]], "crs": CRS84},
            "temporal": {"interval": [[iso(start), iso(end)]], "trs": GREGORIAN},
        },
        "links": [
            link(href, "self", JSON, collection.title),
            link(f"{href}/items", "items", GEOJSON, f"{collection.title} as GeoJSON"),
        ],
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


def openapi(root: str) -> dict[str, Any]:
    """The OpenAPI 3.0 definition of the /ogc endpoints (the rest of the service is at /openapi.json)."""

    def param(name: str, where: str, schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, "in": where, "schema": schema, "description": description, **extra}

    ids = sorted(COLLECTIONS)
    collection_id = param("collectionId", "path", {"type": "string", "enum": ids}, "collection", required=True)
    feature_id = param("featureId", "path", {"type": "string"}, "feature id", required=True)
    query = [
        param(
            "bbox",
            "query",
            {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
            "minLon,minLat,maxLon,maxLat (CRS84)",
            style="form",
            explode=False,
        ),
        param("datetime", "query", {"type": "string"}, "instant, or interval start/end with '..' for open ends"),
        param(
            "limit",
            "query",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
            "page size; larger values are lowered to the maximum",
        ),
        param("offset", "query", {"type": "integer", "minimum": 0, "default": 0}, "index of the first feature"),
        param("class", "query", {"type": "string"}, "comma-separated class names (damage collections)"),
        param("drive_id", "query", {"type": "string"}, "only features of this drive"),
        param(
            "review_status",
            "query",
            {"type": "array", "items": {"type": "string", "enum": list(STATUSES)}},
            "comma-separated review states of the damage records (damage collections)",
            style="form",
            explode=False,
        ),
    ]

    def get(summary: str, media: str, parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        content = {media: {"schema": {"type": "object"}}}
        responses: dict[str, Any] = {"200": {"description": summary, "content": content}}
        if parameters:
            responses["400"] = {"description": "invalid parameter"}
            responses["404"] = {"description": "not found"}
        return {"get": {"summary": summary, "parameters": parameters or [], "responses": responses}}

    return {
        "openapi": "3.0.3",
        "info": {"title": "stadtblick OGC API – Features", "version": "1.0.0"},
        "servers": [{"url": root}],
        "paths": {
            "/": get("Landing page", JSON),
            "/conformance": get("Conformance classes", JSON),
            "/api": get("This API definition", OPENAPI_JSON),
            "/collections": get("Feature collections", JSON),
            "/collections/{collectionId}": get("Collection metadata", JSON, [collection_id]),
            "/collections/{collectionId}/items": get("Features", GEOJSON, [collection_id, *query]),
            "/collections/{collectionId}/items/{featureId}": get("One feature", GEOJSON, [collection_id, feature_id]),
        },
    }
