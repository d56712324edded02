"""POST /v1/detect: one image in, detections of the requested detectors out."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError

from service.api.auth import AUTH_RESPONSES, CurrentPrincipal, allow, check_role
from service.api.deps import ReadyState
from service.api.errors import ApiError, invalid_form
from service.api.selection import select_detectors
from service.api.upload import image_upload_body, read_image_upload
from service.auth import Principal, Role
from service.gis.ingest import UNASSIGNED_DRIVE, ForeignDuplicate, FrameContext
from service.gis.storing import detect_and_store, stored_frame
from service.imaging import header_pixels
from service.pipeline import ParamOverrides, detect_bytes, to_response
from service.schemas import DetectResponse, FrameFields

router = APIRouter(prefix="/v1", tags=["detection"])

_UPLOAD_BODY = image_upload_body()
_ERRORS = {
    **AUTH_RESPONSES,
    400: {"description": "Empty, corrupt or malformed upload"},
    404: {"description": "Unknown detector"},
    409: {"description": "With store=true: another key already stored the same image in this drive"},
    413: {"description": "Upload or image dimensions over the limit"},
    415: {"description": "Not an image format the service decodes"},
    422: {"description": "Invalid query parameters or missing `file` field"},
    503: {
        "description": "Models still loading, the requested detector is unavailable, too many uploads queued, "
        "or with store=true: no anonymisation model (`anonymiser_unavailable`)"
    },
    507: {"description": "With store=true: the service's storage is full"},
}
_STORING_ROLES = frozenset({Role.ADMIN, Role.INSPECTOR})


@router.post(
    "/detect",
    response_model=DetectResponse,
    openapi_extra=_UPLOAD_BODY,
    responses=_ERRORS,
    dependencies=[allow(Role.INSPECTOR, Role.DESK)],
)
async def detect(
    request: Request,
    state: ReadyState,
    principal: CurrentPrincipal,
    fields: Annotated[FrameFields, Query()],
    detectors: Annotated[
        str | None, Query(description="Comma-separated detector names; default: those enabled by default")
    ] = None,
    conf: Annotated[float | None, Query(ge=0.0, le=1.0, description="Confidence threshold")] = None,
    iou: Annotated[float | None, Query(ge=0.0, le=1.0, description="NMS IoU threshold")] = None,
    max_det: Annotated[int | None, Query(ge=1, le=10_000, description="Max detections per detector")] = None,
    tiling: Annotated[
        bool | None,
        Query(description="Sliced inference on overlapping tiles (small, far objects); default: per model card"),
    ] = None,
    store: Annotated[bool, Query(description="Keep the frame, its position and detections (GIS, docs/gis.md)")] = False,
) -> DetectResponse:
    """Detect objects in an uploaded photo (multipart field `file`, or a raw `image/*` body).

    Boxes are in pixels of the image after its EXIF orientation was applied; `area_fraction`
    is the share of the image the box covers (e.g. to estimate graffiti cleaning effort).

    With `store=true` the frame is kept for the GIS: its position and time come from the
    `lat`, `lon`, `heading`, `captured_at` fields (query or form) or else from EXIF; uploading
    the same image to the same `drive_id` again changes nothing (`stored.duplicate`; 409 when another
    key stored it, without showing that frame); storing needs the inspector (or admin) role.
    """
    start = time.perf_counter()
    if store:
        check_role(principal, _STORING_ROLES)
        state.privacy.for_storage()  # 503 anonymiser_unavailable before the upload is even read
    chosen = select_detectors(state.registry, detectors, principal)
    overrides = ParamOverrides(conf=conf, iou=iou, max_det=max_det, tiling=tiling)
    limits = state.runtime.limits
    with state.uploads.slot():  # 503 `busy` at once when too many uploads wait: memory stays bounded
        upload = await read_image_upload(request, state.settings.max_upload_bytes)
        pixels = header_pixels(upload.data)  # large images run in the background pool
        if store:
            context = frame_context(fields, upload.fields, principal)
            try:
                kept = await state.run_inference(
                    lambda: detect_and_store(upload.data, chosen, overrides, limits, context, state.ingestor), pixels
                )
            except ForeignDuplicate as exc:
                raise ApiError(409, "duplicate_frame", str(exc)) from exc
            run = kept.run
        else:
            run = await state.run_inference(lambda: detect_bytes(upload.data, chosen, overrides, limits), pixels)
        state.metrics.observe(run)
        response = to_response(run, (time.perf_counter() - start) * 1000)
        if store:
            response.stored = stored_frame(kept.result)
    return response


def frame_context(query: FrameFields, form: dict[str, str], uploaded_by: Principal) -> FrameContext:
    """Merge form fields and query fields (the query wins) and validate them as one."""
    try:
        merged = FrameFields.model_validate({**form, **query.model_dump(exclude_none=True)})
    except ValidationError as exc:
        raise invalid_form(exc) from exc
    return FrameContext(
        drive_id=merged.drive_id or UNASSIGNED_DRIVE,
        lat=merged.lat,
        lon=merged.lon,
        heading_deg=merged.heading,
        captured_at=merged.captured_at,
        uploaded_by=uploaded_by,
    )
