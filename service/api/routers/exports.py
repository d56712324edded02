"""Stored detections as GeoJSON and CSV files, with the filters of the OGC API plus `detector`."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from service.api.auth import AUTH_RESPONSES, allow
from service.api.deps import DbSession
from service.api.feature_filters import ExportQuery
from service.api.routers.ogc import GeoJSONResponse, base_url
from service.auth import Role
from service.gis.features import detection_feature, detections_csv
from service.storage.frames import find_detections

router = APIRouter(prefix="/v1", tags=["GIS exports"], dependencies=[allow(Role.GIS)], responses=AUTH_RESPONSES)


@router.get("/detections.geojson", summary="Positioned detections as a GeoJSON FeatureCollection")
def detections_geojson(request: Request, session: DbSession, query: ExportQuery) -> GeoJSONResponse:
    """Every stored detection with an estimated ground position (one per sighting, not deduplicated)."""
    matched, rows = find_detections(session, query)
    base = base_url(request)
    features = [detection_feature(d, base) for d in rows]
    return GeoJSONResponse(
        {"type": "FeatureCollection", "features": features, "numberMatched": matched, "numberReturned": len(features)}
    )


@router.get("/detections.csv", summary="Positioned detections as CSV (one row per detection)")
def detections_csv_export(request: Request, session: DbSession, query: ExportQuery) -> Response:
    _, rows = find_detections(session, query)
    return Response(
        detections_csv(rows, base_url(request)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="detections.csv"'},
    )
