"""OGC API – Features Part 1 under /ogc: GIS clients (QGIS, ArcGIS, GDAL, OWSLib) read the
damage records and graded road segments as GeoJSON. Documents are built in service.gis.ogc,
whose API definition also decides which query parameters each path accepts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from service.api.auth import AUTH_RESPONSES, allow
from service.api.deps import DbSession
from service.api.errors import ApiError
from service.api.feature_filters import OgcQuery
from service.api.swagger_ui import swagger_ui_page
from service.auth import Role
from service.gis import ogc
from service.gis.collections import COLLECTIONS, Collection

Format = Annotated[str | None, Query(alias="f", description="json (/ogc/api also html)")]


def declared_parameters_only(request: Request, f: Format = None) -> None:
    """400 for a query parameter the API definition does not declare for this path, or a value
    outside its enumeration (`f` is declared here so /openapi.json lists it; its value is checked
    with the rest)."""
    route_path = request.scope["route"].path.removeprefix(router.prefix) or "/"
    path = route_path.replace("{collection_id}", "{collectionId}").replace("{feature_id}", "{featureId}")
    problem = ogc.query_problem(path, request.query_params.multi_items())
    if problem:
        raise ApiError(400, "invalid_parameter", problem)


router = APIRouter(
    prefix="/ogc",
    tags=["OGC API – Features"],
    dependencies=[allow(Role.GIS), Depends(declared_parameters_only)],
    responses=AUTH_RESPONSES,
)


def get(path: str, summary: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """GET and HEAD (the headers of the same answer, as HTTP asks) on `path`."""

    def register(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        router.add_api_route(path, endpoint, methods=["GET"], summary=summary)
        router.add_api_route(path, endpoint, methods=["HEAD"], summary=summary, include_in_schema=False)
        return endpoint

    return register


class GeoJSONResponse(JSONResponse):
    media_type = ogc.GEOJSON


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def api_root(request: Request) -> str:
    return f"{base_url(request)}/ogc"


def _collection(collection_id: str) -> Collection:
    try:
        return COLLECTIONS[collection_id]
    except KeyError:
        known = ", ".join(COLLECTIONS)
        raise ApiError(404, "not_found", f"no collection {collection_id!r}; collections: {known}") from None


@get("", "Landing page")
def landing(request: Request) -> dict[str, Any]:
    return ogc.landing_page(api_root(request))


@get("/conformance", "Conformance classes")
def conformance() -> dict[str, Any]:
    return ogc.conformance()


@get("/api", "OpenAPI 3.0 definition of this API (f=html: Swagger UI, served locally)")
def api_definition(request: Request) -> Response:
    if request.query_params.get("f") == "html":
        # relative: the page's own origin and path, whatever the Host header says
        return swagger_ui_page("api?f=json", "stadtblick OGC API – Features")
    return JSONResponse(ogc.openapi(api_root(request)), media_type=ogc.OPENAPI_JSON)


@get("/collections", "Feature collections")
def collections(request: Request, session: DbSession) -> dict[str, Any]:
    root = api_root(request)
    infos = [ogc.collection_info(root, c, c.extent(session)) for c in COLLECTIONS.values()]
    return ogc.collections_document(root, infos)


@get("/collections/{collection_id}", "Collection metadata with spatial and temporal extent")
def collection(request: Request, collection_id: str, session: DbSession) -> dict[str, Any]:
    c = _collection(collection_id)
    return ogc.collection_info(api_root(request), c, c.extent(session))


@get("/collections/{collection_id}/schema", "The features' schema: id, geometry type, property types")
def collection_schema(request: Request, collection_id: str) -> JSONResponse:
    document = ogc.collection_schema(api_root(request), _collection(collection_id))
    return JSONResponse(document, media_type=ogc.SCHEMA_JSON)


@get("/collections/{collection_id}/items", "Features (GeoJSON), filtered and paged")
def items(request: Request, collection_id: str, session: DbSession, query: OgcQuery) -> GeoJSONResponse:
    c = _collection(collection_id)
    matched, rows = c.find(session, query)
    base = base_url(request)
    document = ogc.items_document(
        [c.feature(r, base) for r in rows],
        matched,
        query.offset,
        query.limit,
        ogc.PageUrl(request.url),
        f"{api_root(request)}/collections/{c.id}",
    )
    return GeoJSONResponse(document)


@get("/collections/{collection_id}/items/{feature_id}", "One feature (GeoJSON)")
def item(request: Request, collection_id: str, feature_id: str, session: DbSession) -> GeoJSONResponse:
    c = _collection(collection_id)
    record = c.get(session, feature_id)
    if record is None:
        raise ApiError(404, "not_found", f"no feature {feature_id!r} in {collection_id}")
    collection_url = f"{api_root(request)}/collections/{c.id}"
    document = ogc.item_document(c.feature(record, base_url(request)), str(request.url), collection_url)
    return GeoJSONResponse(document)
