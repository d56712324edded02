"""POST /v1/detect: one image in, detections of the requested detectors out."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request

from service.api.deps import ReadyState
from service.api.errors import ApiError
from service.api.selection import select_detectors
from service.api.upload import read_image_upload
from service.pipeline import ParamOverrides, detect_bytes, to_response
from service.schemas import DetectResponse

router = APIRouter(prefix="/v1", tags=["detection"])

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
            "image/*": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
_ERRORS = {
    400: {"description": "Empty, corrupt or malformed upload"},
    404: {"description": "Unknown detector"},
    413: {"description": "Upload or image dimensions over the limit"},
    415: {"description": "Not an image format the service decodes"},
    422: {"description": "Invalid query parameters or missing `file` field"},
    503: {"description": "Models still loading, or the requested detector is unavailable"},
}


@router.post("/detect", response_model=DetectResponse, openapi_extra=_UPLOAD_BODY, responses=_ERRORS)
async def detect(
    request: Request,
    state: ReadyState,
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
) -> DetectResponse:
    """Detect objects in an uploaded photo (multipart field `file`, or a raw `image/*` body).

    Boxes are in pixels of the image after its EXIF orientation was applied; `area_fraction`
    is the share of the image the box covers (e.g. to estimate graffiti cleaning effort).
    """
    start = time.perf_counter()
    chosen = select_detectors(state.registry, detectors)
    data = await read_image_upload(request, state.settings.max_upload_bytes)
    overrides = ParamOverrides(conf=conf, iou=iou, max_det=max_det, tiling=tiling)
    run = await state.run_inference(lambda: detect_bytes(data, chosen, overrides, state.settings.image_limits()))
    state.metrics.images.inc()
    for r in run.runs:
        state.metrics.inference_seconds.labels(r.detector.name).observe(r.elapsed_ms / 1000)
        names = r.detector.card.class_names
        for cls in r.detections.class_id:
            state.metrics.detections.labels(r.detector.name, names[int(cls)]).inc()
    if not run.runs:
        raise ApiError(503, "no_detectors", "no detector is available; see GET /v1/models")
    return to_response(run, (time.perf_counter() - start) * 1000)
