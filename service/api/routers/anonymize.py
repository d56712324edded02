"""POST /v1/anonymise: a photo in, the same photo out with faces and licence plates obscured.

`/v1/anonymize`, the older spelling, stays an alias (the public API spells British, docs/architecture.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from service.api.auth import AUTH_RESPONSES, allow
from service.api.deps import ReadyState
from service.api.upload import image_upload_body, read_image_upload
from service.auth import Role
from service.imaging import decode_image, header_pixels
from service.privacy import Anonymised
from service.privacy.jpeg import clean_jpeg
from service.schemas import AnonymisedRegion, AnonymiseReport, BBox

router = APIRouter(
    prefix="/v1", tags=["privacy"], dependencies=[allow(Role.INSPECTOR, Role.DESK)], responses=AUTH_RESPONSES
)

_UPLOAD_BODY = image_upload_body()
_RESPONSES = {
    200: {
        "description": "The anonymised photo as a JPEG without metadata; with report=true the obscured regions",
        "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
    },
    400: {"description": "Empty, corrupt or malformed upload"},
    413: {"description": "Upload or image dimensions over the limit"},
    415: {"description": "Not an image format the service decodes"},
    422: {"description": "Invalid query parameters or missing `file` field"},
    503: {
        "description": "Models still loading, too many uploads queued, or no anonymisation model "
        "(`anonymiser_unavailable`: never an unobscured photo instead)"
    },
}


@router.post("/anonymise", response_model=AnonymiseReport, openapi_extra=_UPLOAD_BODY, responses=_RESPONSES)
@router.post(
    "/anonymize",
    response_model=AnonymiseReport,
    openapi_extra=_UPLOAD_BODY,
    responses=_RESPONSES,
    deprecated=True,
    summary="Anonymise (old spelling of POST /v1/anonymise)",
)
async def anonymise(
    request: Request,
    state: ReadyState,
    report: Annotated[bool, Query(description="Return the obscured regions as JSON instead of the image")] = False,
) -> Response | AnonymiseReport:
    """Obscure every face and licence plate in an uploaded photo (multipart field `file`, or a raw
    `image/*` body); EXIF orientation is applied, and EXIF, XMP and ICC data are not returned.

    Nothing is stored. Regions are in pixels of the upright image, including the safety margin.
    """
    anonymiser = state.privacy.usable()  # 503 anonymiser_unavailable before the upload is read
    limits = state.runtime.limits
    with state.uploads.slot():
        upload = await read_image_upload(request, state.settings.max_upload_bytes)

        def work() -> tuple[Anonymised, bytes | None]:
            result = anonymiser.anonymise(decode_image(upload.data, limits).pixels)
            return result, None if report else clean_jpeg(result.pixels)

        result, jpeg = await state.run_inference(work, header_pixels(upload.data))
    if jpeg is not None:
        return Response(jpeg, media_type="image/jpeg")
    h, w = result.pixels.shape[:2]
    return AnonymiseReport(
        width=w,
        height=h,
        regions=[
            AnonymisedRegion(
                source=r.source,
                class_name=r.class_name,
                confidence=r.confidence,
                box=BBox(x1=r.box[0], y1=r.box[1], x2=r.box[2], y2=r.box[3]),
            )
            for r in result.regions
        ],
    )
