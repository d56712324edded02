"""OGC API – Features Part 1 under /ogc: GIS clients (QGIS, ArcGIS, GDAL, OWSLib) read the
damage records and graded road segments as GeoJSON. Documents are built in service.gis.ogc.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from service.api.auth import AUTH_RESPONSES, allow
from service.api.deps import DbSession
from service.api.errors import ApiError
from service.api.feature_filters import OgcQuery
from service.auth import Role
from service.gis import ogc
from service.gis.collections import COLLECTIONS, Collection

router = APIRouter(prefix="/ogc", tags=["OGC API – Features"], dependencies=[allow(Role.GIS)], responses=AUTH_RESPONSES)

_FORMATS = {None, "json", "geojson", ogc.JSON, ogc.GEOJSON}
Format = Annotated[str | None, Query(alias="f", description="json (the only encoding offered)")]


class GeoJSONResponse(JSONResponse):
    media_type = ogc.GEOJSON


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def api_root(request: Request) -> str:
    return f"{base_url(request)}/ogc"


def _check_format(f: str | None) -> None:
    if f not in _FORMATS:
        raise ApiError(400, "invalid_parameter", f"f: only JSON/GeoJSON is offered, not {f!r}")


def _collection(collection_id: str) -> Collection:
    try:
        return COLLECTIONS[collection_id]
    except KeyError:
        known = ", ".join(COLLECTIONS)
        raise ApiError(404, "not_found", f"no collection {collection_id!r}; collections: {known}") from None


@router.get("", summary="Landing page")
def landing(request: Request, f: Format = None) -> dict[str, Any]:
    _check_format(f)
    return ogc.landing_page(api_root(request))


@router.get("/conformance", summary="Conformance classes")
def conformance(f: Format = None) -> dict[str, Any]:
    _check_format(f)
    return ogc.conformance()


@router.get("/api", summary="OpenAPI 3.0 definition of this API")
def api_definition(request: Request, f: Format = None) -> JSONResponse:
    _check_format(f)
    return JSONResponse(ogc.openapi(api_root(request)), media_type=ogc.OPENAPI_JSON)


@router.get("/collections", summary="Feature collections")
def collections(request: Request, session: DbSession, f: Format = None) -> dict[str, Any]:
    _check_format(f)
    root = api_root(request)
    infos = [ogc.collection_info(root, c, c.extent(session)) for c in COLLECTIONS.values()]
    return ogc.collections_document(root, infos)


@router.get("/collections/{collection_id}", summary="Collection metadata with spatial and temporal extent")
def collection(request: Request, collection_id: str, session: DbSession, f: Format = None) -> dict[str, Any]:
    _check_format(f)
    c = _collection(collection_id)
    return ogc.collection_info(api_root(request), c, c.extent(session))


@router.get("/collections/{collection_id}/items", summary="Features (GeoJSON), filtered and paged")
def items(
    request: Request, collection_id: str, session: DbSession, query: OgcQuery, f: Format = None
) -> GeoJSONResponse:
    _check_format(f)
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


@router.get("/collections/{collection_id}/items/{feature_id}", summary="One feature (GeoJSON)")
def item(
    request: Request, collection_id: str, feature_id: str, session: DbSession, f: Format = None
) -> GeoJSONResponse:
    _check_format(f)
    c = _collection(collection_id)
    record = c.get(session, feature_id)
    if record is None:
        raise ApiError(404, "not_found", f"no feature {feature_id!r} in {collection_id}")
    collection_url = f"{api_root(request)}/collections/{c.id}"
    document = ogc.item_document(c.feature(record, base_url(request)), str(request.url), collection_url)
    return GeoJSONResponse(document)
