"""The lost-property register (docs/lost_property.md): describe, register, list, change, delete, match."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from service.api.auth import AUTH_RESPONSES, CurrentPrincipal, allow
from service.api.deps import ReadyState, State
from service.api.errors import ApiError, invalid_form
from service.api.routers.frames import JpegResponse
from service.api.upload import read_body, read_image_upload
from service.auth import Role
from service.imaging import header_pixels
from service.lost_property.desk import InvalidItem, ItemFields, Recognition
from service.lost_property.schemas import (
    KEY_PATTERN,
    Candidate,
    Description,
    LostItemFields,
    LostItemOut,
    LostItemPage,
    LostItemPatch,
    SearchFields,
    SearchResult,
    Status,
)
from service.lost_property.search_terms import vocabulary
from service.storage.lost_items import LostItemQuery
from service.storage.models import MAX_ROW_ID
from service.text import PlainText
from service.times import Instant, InstantUntil

M = TypeVar("M", bound=BaseModel)


class _NoFields(BaseModel):
    """/describe takes the photo only."""


router = APIRouter(
    prefix="/v1/lost-items", tags=["lost property"], dependencies=[allow(Role.DESK)], responses=AUTH_RESPONSES
)
ItemId = Annotated[int, PathParam(ge=1, le=MAX_ROW_ID)]
_NOT_FOUND = {404: {"description": "No such item (or its photo was deleted)"}}
_UPLOAD_ERRORS = {
    400: {"description": "Empty, corrupt or malformed upload"},
    413: {"description": "Upload or image dimensions over the limit"},
    415: {"description": "Not an image format the service decodes"},
    422: {"description": "Invalid form fields, unknown category or colour, or no `photo`"},
    503: {"description": "Models still loading, too many uploads queued, or no anonymisation model"},
}


def _photo_body(fields: type[BaseModel], required: bool) -> dict:
    properties = {"photo": {"type": "string", "format": "binary"}}
    properties |= {name: {"type": "string"} for name in fields.model_fields}
    schema = {"type": "object", "properties": properties, **({"required": ["photo"]} if required else {})}
    return {"requestBody": {"required": required, "content": {"multipart/form-data": {"schema": schema}}}}


async def _recognise(
    request: Request, state: ReadyState, fields: type[M], photo_required: bool
) -> tuple[M, Recognition | None]:
    """Read the form (with the photo) and recognise the photo in the worker pool; (fields, recognition)."""
    if not photo_required and not request.headers.get("content-type", "").startswith("multipart/form-data"):
        body = await read_body(request, 64 * 1024)
        try:
            return fields.model_validate_json(body or b"{}"), None
        except ValidationError as exc:
            raise invalid_form(exc) from exc
    with state.uploads.slot():
        upload = await read_image_upload(request, state.settings.max_upload_bytes, field="photo")
        try:
            parsed = fields.model_validate({k: v for k, v in upload.fields.items() if v != ""})
        except ValidationError as exc:
            raise invalid_form(exc) from exc
        if not upload.data and not photo_required:
            return parsed, None
        limits = state.runtime.limits
        rec = await state.run_inference(lambda: state.desk.recognise(upload.data, limits), header_pixels(upload.data))
    return parsed, rec


@router.post(
    "/describe", response_model=Description, openapi_extra=_photo_body(_NoFields, True), responses=_UPLOAD_ERRORS
)
async def describe_photo(request: Request, state: ReadyState) -> Description:
    """Recognise a photo (multipart `photo`) without storing anything: category, colours, box."""
    _, rec = await _recognise(request, state, _NoFields, photo_required=True)
    assert rec is not None  # a photo is required
    return rec.description


@router.post(
    "",
    status_code=201,
    response_model=LostItemOut,
    openapi_extra=_photo_body(LostItemFields, True),
    responses={**_UPLOAD_ERRORS, 507: {"description": "The service's storage is full"}},
)
async def register_item(request: Request, state: ReadyState, principal: CurrentPrincipal) -> LostItemOut:
    """Register a found item from its photo (multipart `photo`; optional `found_at`, `found_place`,
    `notes`, `category` and `colours` overriding what is recognised). The photo is stored anonymised."""
    state.privacy.for_storage()  # 503 anonymiser_unavailable before the upload is read
    fields, rec = await _recognise(request, state, LostItemFields, photo_required=True)
    assert rec is not None  # a photo is required
    item = ItemFields(
        found_at=fields.found_at,
        found_place=fields.found_place,
        notes=fields.notes,
        category=fields.category,
        colours=[c.strip() for c in fields.colours.split(",") if c.strip()] if fields.colours else None,
    )
    with _invalid_as_422():
        pixels = rec.image.width * rec.image.height
        return await state.run_inference(lambda: state.desk.register(rec, item, principal), pixels)


@router.get("", response_model=LostItemPage)
def list_items(
    state: State,
    principal: CurrentPrincipal,
    category: Annotated[str | None, Query(pattern=KEY_PATTERN)] = None,
    colour: Annotated[str | None, Query(pattern=KEY_PATTERN, description="palette key, e.g. schwarz")] = None,
    color: Annotated[
        str | None, Query(pattern=KEY_PATTERN, deprecated=True, description="old spelling of colour")
    ] = None,
    status: Status | None = None,
    q: Annotated[PlainText | None, Query(max_length=500, description="free text, German or English")] = None,
    found_from: Annotated[Instant | None, Query(description="RFC 3339 (UTC without an offset) or a date")] = None,
    found_to: Annotated[InstantUntil | None, Query(description="RFC 3339 or a date (its end)")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
) -> LostItemPage:
    """The register, most recently found first; every filter narrows (`q`: every word must match)."""
    words = tuple(frozenset(o) for o in vocabulary(state.desk.taxonomy).query(q or ""))
    query = LostItemQuery(category, colour or color, status, words, found_from, found_to, limit, offset)
    matched, items = state.desk.find(query, principal)
    return LostItemPage(items=items, matched=matched, limit=limit, offset=offset)


@router.post(
    "/search",
    response_model=SearchResult,
    openapi_extra={
        "requestBody": {
            "content": {
                **_photo_body(SearchFields, False)["requestBody"]["content"],
                "application/json": {"schema": SearchFields.model_json_schema()},
            }
        }
    },
    responses=_UPLOAD_ERRORS,
)
async def search_items(request: Request, state: ReadyState, principal: CurrentPrincipal) -> SearchResult:
    """Rank registered items against a description (`text`, `category`, `colour`, `lost_from`,
    `lost_to`) and/or a photo of the lost item (multipart `photo`), with the reasons."""
    fields, rec = await _recognise(request, state, SearchFields, photo_required=False)
    query = LostItemQuery(status="registered", found_from=fields.lost_from, found_to=fields.lost_to)
    ranked = await run_in_threadpool(
        state.desk.search, fields.text, fields.category, fields.colour, query, rec, fields.limit, principal
    )
    return SearchResult(
        query_description=rec.description if rec else None,
        candidates=[Candidate(item=out, score=r.score, reasons=r.reasons) for r, out in ranked],
    )


@router.get("/{item_id}", response_model=LostItemOut, responses=_NOT_FOUND)
def get_item(item_id: ItemId, state: State, principal: CurrentPrincipal) -> LostItemOut:
    return _found(state.desk.get(item_id, principal), item_id)


@router.patch("/{item_id}", response_model=LostItemOut, responses={**_NOT_FOUND, 422: {"description": "Invalid"}})
def update_item(item_id: ItemId, patch: LostItemPatch, state: State, principal: CurrentPrincipal) -> LostItemOut:
    """Correct category or colours, record the return or disposal, edit the notes."""
    with _invalid_as_422():
        return _found(state.desk.update(item_id, patch, principal), item_id)


@router.delete("/{item_id}", status_code=204, response_class=Response, responses=_NOT_FOUND)
def delete_item(item_id: ItemId, state: State, principal: CurrentPrincipal) -> Response:
    """Delete the item and its photo (e.g. registered by mistake)."""
    if not state.desk.delete(item_id, principal):
        raise ApiError(404, "not_found", f"no lost item {item_id}")
    return Response(status_code=204)


@router.get("/{item_id}/photo", response_class=JpegResponse, responses=_NOT_FOUND)
def item_photo(item_id: ItemId, state: State, principal: CurrentPrincipal) -> JpegResponse:
    """The stored (anonymised, metadata-free) photo; every read is in the audit log."""
    jpeg = state.desk.photo(item_id, principal)
    if jpeg is None:
        raise ApiError(404, "not_found", f"no stored photo for lost item {item_id}")
    return JpegResponse(jpeg)


def _found(item: LostItemOut | None, item_id: int) -> LostItemOut:
    if item is None:
        raise ApiError(404, "not_found", f"no lost item {item_id}")
    return item


@contextmanager
def _invalid_as_422() -> Iterator[None]:
    try:
        yield
    except InvalidItem as exc:
        raise ApiError(422, "invalid_request", str(exc)) from exc
