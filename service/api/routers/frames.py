"""Frames of inspection drives: batch upload as a background job, job progress, stored photos."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from service.api.auth import AUTH_RESPONSES, CurrentPrincipal, allow
from service.api.deps import DbSession, ReadyState, State
from service.api.errors import ApiError, invalid_form
from service.api.selection import select_detectors
from service.api.state import ServiceState
from service.api.upload import read_multipart
from service.auth import Principal, Role
from service.gis.batch import BatchLimits, InvalidBatch, collect_frames
from service.gis.ingest import FrameContext
from service.pipeline import ParamOverrides
from service.schemas import DRIVE_ID_PATTERN, BatchAccepted, BatchFields, JobStatus
from service.storage import audit
from service.storage.frames import FrameRepository
from service.storage.jobs import JobRepository
from service.storage.models import MAX_ROW_ID, Frame

router = APIRouter(prefix="/v1", tags=["frames"], dependencies=[allow(Role.INSPECTOR)], responses=AUTH_RESPONSES)

_BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["drive_id"],
                    "properties": {
                        "drive_id": {"type": "string", "pattern": DRIVE_ID_PATTERN},
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "archive": {"type": "string", "format": "binary", "description": "a zip of frames"},
                    },
                }
            }
        },
    }
}


@router.post(
    "/frames/batch",
    status_code=202,
    response_model=BatchAccepted,
    openapi_extra=_BATCH_BODY,
    responses={
        400: {"description": "A malformed form, no frames, too many, or an archive whose directory is unreadable"},
        404: {"description": "Unknown detector"},
        413: {"description": "The upload is over the batch limit"},
        503: {
            "description": "Models still loading, too many batch jobs pending (`Retry-After`, before the body is "
            "read), no anonymisation model (`anonymiser_unavailable`) or the database is unavailable"
        },
        507: {"description": "The service's storage is full"},
    },
)
async def upload_batch(
    request: Request,
    state: ReadyState,
    principal: CurrentPrincipal,
    detectors: Annotated[str | None, Query(description="Comma-separated detector names")] = None,
    conf: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    iou: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    max_det: Annotated[int | None, Query(ge=1, le=10_000)] = None,
) -> BatchAccepted:
    """Store many frames of one drive (multipart `files`, and/or a zip in `archive`, plus `drive_id`).

    Positions and times come from each frame's EXIF. Returns at once with a job id; the frames
    are processed in the background (see `GET /v1/jobs/{id}`), zip members in name order.
    """
    settings = state.settings
    state.privacy.for_storage()  # 503 anonymiser_unavailable: no frame of the batch could be stored
    chosen = select_detectors(state.registry, detectors, principal)
    jobs = state.batches.jobs
    jobs.acquire()  # 503 `busy` before the body is read: a bounded number of uploads is held in memory
    try:
        form = await read_multipart(request, settings.max_batch_bytes, max_files=settings.max_batch_frames + 1)
        try:
            drive_id = BatchFields.model_validate(form.fields).drive_id
        except ValidationError as exc:
            raise invalid_form(exc) from exc
        limits = BatchLimits(settings.max_batch_frames, settings.max_upload_bytes)
        loose = form.files.get("files", []) + form.files.get("file", [])
        archives = [data for _, data in form.files.get("archive", [])]
        try:
            frames = await run_in_threadpool(collect_frames, loose, archives, limits)
        except InvalidBatch as exc:
            raise ApiError(400, "invalid_batch", str(exc)) from exc
        overrides = ParamOverrides(conf=conf, iou=iou, max_det=max_det)
        context = FrameContext(drive_id, uploaded_by=principal)
        job_id = await run_in_threadpool(state.batches.submit, frames, context, chosen, overrides)
    except BaseException:
        jobs.release()
        raise
    status_url = f"{str(request.base_url).rstrip('/')}/v1/jobs/{job_id}"
    return BatchAccepted(job_id=job_id, status_url=status_url, frames=len(frames))


_JOB_ID = re.compile(r"[0-9a-f\-]{36}")
FrameId = Annotated[int, PathParam(ge=1, le=MAX_ROW_ID)]


@router.get("/jobs/{job_id}", response_model=JobStatus)
def job_status(job_id: str, session: DbSession, principal: CurrentPrincipal) -> JobStatus:
    """Progress of a batch job; inspectors see the jobs they started."""
    job = JobRepository(session).get(job_id) if _JOB_ID.fullmatch(job_id) else None  # never a NUL to PostgreSQL
    if job is None or not _may_read(principal, job.created_by):
        raise ApiError(404, "not_found", f"no job {job_id!r}")
    return JobStatus.model_validate(job, from_attributes=True)


class JpegResponse(Response):
    """A stored photo, read from the frame store (docs/scaling.md)."""

    media_type = "image/jpeg"


@router.get("/frames/{frame_id}/image", response_class=JpegResponse)
def frame_image(frame_id: FrameId, state: State, principal: CurrentPrincipal) -> JpegResponse:
    """The stored photo of a frame: re-encoded, without the upload's metadata. Inspectors see the
    frames they stored. Every read is in the audit log (written before the photo is sent)."""
    return send_frame_image(state, principal, frame_id, lambda frame: _may_read(principal, frame.uploaded_by))


def send_frame_image(
    state: ServiceState, principal: Principal, frame_id: int, may_read: Callable[[Frame], bool]
) -> JpegResponse:
    """A stored frame photo, audited; 404 alike for absent, deleted and forbidden ones."""
    with state.database.transaction() as session:
        frame = FrameRepository(session).get(frame_id)
        jpeg = None
        if frame is not None and frame.image_path and may_read(frame):
            jpeg = state.ingestor.images.read(frame.image_path)
        if jpeg is None:
            raise ApiError(404, "not_found", f"no stored image for frame {frame_id}")
        audit.record(session, principal, audit.READ, f"frame:{frame_id}")
    return JpegResponse(jpeg)


def _may_read(principal: Principal, owner: str | None) -> bool:
    """Admins read everything; others what their key (by name) stored: unknown and forbidden look alike."""
    return principal.role is Role.ADMIN or (owner is not None and owner == principal.name)
