"""Human review of stored detections (docs/review.md): the queue, decisions, boxes the model
missed, the frames to look at, and the reviewed data as a training source. The work is in
service.review; this module speaks HTTP."""

from __future__ import annotations

import os
import tempfile
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from service.api.auth import AUTH_RESPONSES, CurrentPrincipal, allow
from service.api.deps import DbSession, State
from service.api.errors import ApiError
from service.api.feature_filters import Bbox, Classes, Datetime, Detectors, DriveId
from service.api.routers.frames import JpegResponse, send_frame_image
from service.api.state import ServiceState
from service.auth import Role
from service.gis.filters import InvalidFilter, parse_bbox, parse_datetime, parse_name, parse_names
from service.gis.filters import parse_review_statuses as parse_statuses
from service.review.dataset import export_reviewed
from service.review.decisions import Decision, ReviewDesk, ReviewRefused
from service.review.schemas import DecisionIn, MissedIn, ReviewItem, ReviewPage
from service.review_status import UNREVIEWED
from service.storage.models import MAX_ROW_ID
from service.storage.reviews import QueueQuery, find_queue

router = APIRouter(prefix="/v1/review", tags=["review"], responses=AUTH_RESPONSES)

DetectionId = Annotated[int, PathParam(ge=1, le=MAX_ROW_ID)]
FrameId = Annotated[int, PathParam(ge=1, le=MAX_ROW_ID)]
Confidence = Annotated[float | None, Query(ge=0.0, le=1.0)]


def review_desk(state: ServiceState) -> ReviewDesk:
    def class_names(detector: str) -> list[str] | None:
        entry = state.registry.entries.get(detector)
        return [c.name for c in entry.card.classes] if entry and entry.card else None

    return ReviewDesk(state.database, state.ingestor, class_names)


def _refused(exc: ReviewRefused) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message)


@router.get("/queue", response_model=ReviewPage, dependencies=[allow(Role.INSPECTOR, Role.GIS)])
def queue(
    session: DbSession,
    state: State,
    status: Annotated[str | None, Query(description=f"comma-separated review states; default {UNREVIEWED}")] = None,
    drive_id: DriveId = None,
    bbox: Bbox = None,
    detectors: Detectors = None,
    classes: Classes = None,
    min_confidence: Confidence = None,
    max_confidence: Confidence = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> ReviewPage:
    """Stored detections to review, lowest confidence first; filtered by drive, area (camera
    position), detector, class and confidence. GIS keys may read it (the statuses), not decide."""
    try:
        query = QueueQuery(
            statuses=parse_statuses(status) or (UNREVIEWED,),
            drive_id=parse_name(drive_id, "drive_id"),
            bbox=parse_bbox(bbox),
            detectors=parse_names(detectors, "detector"),
            classes=parse_names(classes, "class"),
            min_confidence=min_confidence,
            max_confidence=max_confidence,
            limit=limit,
            offset=offset,
        )
    except InvalidFilter as exc:
        raise ApiError(400, "invalid_parameter", str(exc)) from exc
    matched, rows = find_queue(session, query)
    desk = review_desk(state)
    detectors_seen = sorted({d.detector for d in rows})
    return ReviewPage(
        matched=matched,
        items=[ReviewItem.of(d) for d in rows],
        classes={name: desk.classes(session, name) for name in detectors_seen},
    )


@router.post("/detections/{detection_id}", response_model=ReviewItem, dependencies=[allow(Role.INSPECTOR)])
def decide(detection_id: DetectionId, body: DecisionIn, state: State, principal: CurrentPrincipal) -> ReviewItem:
    """Confirm, reject or correct (`class` and/or `box`) a detection. Inspectors review road damage
    and graffiti, admins every detector. Rejected detections leave their damage record and grades."""
    decision = Decision(body.action, body.class_name, tuple(body.box) if body.box else None)
    try:
        return ReviewItem.of(review_desk(state).decide(principal, detection_id, decision))
    except ReviewRefused as exc:
        raise _refused(exc) from exc


@router.post(
    "/frames/{frame_id}/detections",
    response_model=ReviewItem,
    status_code=201,
    dependencies=[allow(Role.INSPECTOR)],
)
def add_missed(frame_id: FrameId, body: MissedIn, state: State, principal: CurrentPrincipal) -> ReviewItem:
    """A box the model missed, drawn by a reviewer: stored as an `added` detection without model version."""
    try:
        detection = review_desk(state).add(principal, frame_id, body.detector, body.class_name, tuple(body.box))
    except ReviewRefused as exc:
        raise _refused(exc) from exc
    return ReviewItem.of(detection)


@router.get("/frames/{frame_id}/image", response_class=JpegResponse, dependencies=[allow(Role.INSPECTOR)])
def frame_image(frame_id: FrameId, state: State, principal: CurrentPrincipal) -> JpegResponse:
    """A stored (anonymised) frame for reviewing any drive's detections; every read is audited."""
    return send_frame_image(state, principal, frame_id, lambda _frame: True)


@router.get(
    "/export",
    dependencies=[allow()],
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}, "description": "manifest.json and images/"}},
)
def export(
    session: DbSession,
    state: State,
    principal: CurrentPrincipal,
    detector: Annotated[str, Query(pattern=r"^[A-Za-z0-9_.\-]{1,64}$", description="e.g. road_damage")],
    drive_id: DriveId = None,
    datetime_: Datetime = None,
) -> FileResponse:
    """The reviewed frames of a detector as a training source (admins): a zip for
    `stadtblick train import --source review:FILE.zip` (docs/training.md)."""
    try:
        drive, interval = parse_name(drive_id, "drive_id"), parse_datetime(datetime_)
    except InvalidFilter as exc:
        raise ApiError(400, "invalid_parameter", str(exc)) from exc
    fd, name = tempfile.mkstemp(prefix="review-export-", suffix=".zip")
    try:
        with os.fdopen(fd, "wb") as out:
            result = export_reviewed(session, state.ingestor.images, principal, out, detector, drive, interval)
    except BaseException:
        os.unlink(name)
        raise
    filename = f"review-{detector}{f'-{drive}' if drive else ''}.zip"
    return FileResponse(
        name,
        media_type="application/zip",
        filename=filename,
        headers={"X-Review-Frames": str(result.frames), "X-Review-Boxes": str(result.boxes)},
        background=BackgroundTask(os.unlink, name),
    )
