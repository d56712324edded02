"""Reading an uploaded image from the request: multipart field `file` or a raw `image/*` body.

The body is read into memory with a hard byte limit; multipart parts are kept in memory too
(never spooled to a temporary file), so uploaded originals never touch the disk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
import anyio.to_thread
from fastapi import Request
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from service.api.errors import ApiError
from service.config import MULTIPART_FRAMING

RAW_TYPES = ("image/", "application/octet-stream")


async def read_body(request: Request, max_bytes: int) -> bytes:
    return b"".join(await _read_chunks(request, max_bytes))


async def _read_chunks(request: Request, max_bytes: int) -> list[bytes]:
    """The body as received, refused as soon as it exceeds `max_bytes`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return chunks


@dataclass(frozen=True)
class UploadedForm:
    """A multipart form read into memory: files by field name (in order) and the text fields."""

    files: dict[str, list[tuple[str, bytes]]]
    fields: dict[str, str]


@dataclass(frozen=True)
class ImageUpload:
    data: bytes
    fields: dict[str, str]  # the form's text fields; empty for a raw body


async def read_image_upload(request: Request, max_bytes: int, field: str = "file") -> ImageUpload:
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        form = await read_multipart(request, max_bytes + MULTIPART_FRAMING, max_files=4)
        files = form.files.get(field)
        if not files:
            raise ApiError(422, "missing_file", f"multipart field '{field}' with an image file is required")
        data = files[0][1]
        if len(data) > max_bytes:
            raise _too_large(max_bytes)
        return ImageUpload(data, form.fields)
    if content_type.startswith(RAW_TYPES) or not content_type:
        return ImageUpload(await read_body(request, max_bytes), {})
    raise ApiError(
        415,
        "unsupported_media_type",
        f"send the image as multipart/form-data field '{field}' or as a raw image/* body, not {content_type}",
    )


async def read_multipart(request: Request, max_bytes: int, max_files: int) -> UploadedForm:
    """Parse a multipart body of at most `max_bytes`, keeping every part in memory.

    The parsing runs in a worker thread: it is pure CPU work (about 1 s per 200 MB), which on the
    event loop would stall every other request, health checks included, for that long
    (`python -m bench.multipart`)."""
    chunks = await _read_chunks(request, max_bytes)
    return await anyio.to_thread.run_sync(_parse_multipart, request.headers, chunks, max_bytes, max_files)


def _parse_multipart(headers: Headers, chunks: list[bytes], max_bytes: int, max_files: int) -> UploadedForm:
    """Starlette's parser on an event loop of this worker thread (it only awaits its input)."""

    async def stream() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    parser = MultiPartParser(headers, stream(), max_files=max_files, max_fields=32)
    parser.spool_max_size = max_bytes + 1  # keep parts in memory: originals must not hit the disk
    try:
        form = anyio.run(parser.parse)
    except MultiPartException as exc:
        raise ApiError(400, "invalid_multipart", f"malformed multipart body: {exc.message}") from exc
    files: dict[str, list[tuple[str, bytes]]] = {}
    fields: dict[str, str] = {}
    for name, item in form.multi_items():
        if isinstance(item, UploadFile):
            files.setdefault(name, []).append((item.filename or "", item.file.read()))
            item.file.close()
        else:
            fields[name] = item
    return UploadedForm(files, fields)


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"upload exceeds {max_bytes} bytes")


def image_upload_body(field: str = "file") -> dict:
    """OpenAPI `requestBody` for routes reading an image with `read_image_upload` (multipart or raw)."""
    binary = {"type": "string", "format": "binary"}
    multipart = {"type": "object", "required": [field], "properties": {field: binary}}
    return {
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": multipart}, "image/*": {"schema": binary}},
        }
    }
