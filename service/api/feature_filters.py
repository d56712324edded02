"""The shared filter parameters of the OGC items and the exports, validated into a FeatureQuery.

Numbers arrive as text and are parsed by service.gis.filters, so a malformed value is a
400 `invalid_parameter` (as OGC API – Features asks), not a generic 422.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from service.api.errors import ApiError
from service.gis.filters import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    FeatureQuery,
    InvalidFilter,
    parse_bbox,
    parse_datetime,
    parse_limit,
    parse_name,
    parse_names,
    parse_offset,
    parse_review_statuses,
)

EXPORT_LIMIT = 100_000

Bbox = Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat in WGS84 (CRS84)")]
Datetime = Annotated[
    str | None,
    Query(alias="datetime", description="RFC 3339 instant or interval start/end; '..' or empty for an open end"),
]
Limit = Annotated[str | None, Query(description="Page size")]
Offset = Annotated[str | None, Query(description="Index of the first feature (paging)")]
Classes = Annotated[str | None, Query(alias="class", description="Comma-separated class names")]
DriveId = Annotated[str | None, Query(description="Only this drive")]
Detectors = Annotated[str | None, Query(alias="detector", description="Comma-separated detector names")]
ReviewStatus = Annotated[
    str | None,
    Query(description="Comma-separated review states: unreviewed, confirmed, rejected, corrected, added"),
]


def build_query(
    bbox: str | None,
    datetime_: str | None,
    limit: str | None,
    offset: str | None,
    classes: str | None,
    drive_id: str | None,
    detectors: str | None = None,
    review_status: str | None = None,
    max_limit: int = MAX_LIMIT,
    default_limit: int = DEFAULT_LIMIT,
) -> FeatureQuery:
    try:
        return FeatureQuery(
            bbox=parse_bbox(bbox),
            interval=parse_datetime(datetime_),
            classes=parse_names(classes, "class"),
            detectors=parse_names(detectors, "detector"),
            drive_id=parse_name(drive_id, "drive_id"),
            review_statuses=parse_review_statuses(review_status),
            limit=parse_limit(limit, max_limit, default_limit),
            offset=parse_offset(offset),
        )
    except InvalidFilter as exc:
        raise ApiError(400, "invalid_parameter", str(exc)) from exc


def ogc_items_query(
    bbox: Bbox = None,
    datetime_: Datetime = None,
    limit: Limit = None,
    offset: Offset = None,
    classes: Classes = None,
    drive_id: DriveId = None,
    review_status: ReviewStatus = None,
) -> FeatureQuery:
    return build_query(bbox, datetime_, limit, offset, classes, drive_id, review_status=review_status)


def export_query(
    bbox: Bbox = None,
    datetime_: Datetime = None,
    limit: Limit = None,
    offset: Offset = None,
    classes: Classes = None,
    drive_id: DriveId = None,
    detectors: Detectors = None,
    review_status: ReviewStatus = None,
) -> FeatureQuery:
    return build_query(
        bbox, datetime_, limit, offset, classes, drive_id, detectors, review_status, EXPORT_LIMIT, EXPORT_LIMIT
    )


OgcQuery = Annotated[FeatureQuery, Depends(ogc_items_query)]
ExportQuery = Annotated[FeatureQuery, Depends(export_query)]
