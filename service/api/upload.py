"""Reading an uploaded image from the request: multipart field `file` or a raw `image/*` body.

The body is read into memory with a hard byte limit; multipart parts are kept in memory too
(never spooled to a temporary file), so uploaded originals never touch the disk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from service.api.errors import ApiError

RAW_TYPES = ("image/", "application/octet-stream")


async def read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_image_upload(request: Request, max_bytes: int, field: str = "file") -> bytes:
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        body = await read_body(request, max_bytes + 64 * 1024)  # room for the multipart framing
        return await _multipart_file(request, body, field, max_bytes)
    if content_type.startswith(RAW_TYPES) or not content_type:
        return await read_body(request, max_bytes)
    raise ApiError(
        415,
        "unsupported_media_type",
        f"send the image as multipart/form-data field '{field}' or as a raw image/* body, not {content_type}",
    )


async def _multipart_file(request: Request, body: bytes, field: str, max_bytes: int) -> bytes:
    async def stream() -> AsyncIterator[bytes]:
        yield body

    parser = MultiPartParser(request.headers, stream(), max_files=4, max_fields=32)
    parser.spool_max_size = max_bytes + 1  # keep parts in memory: originals must not hit the disk
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise ApiError(400, "invalid_multipart", f"malformed multipart body: {exc.message}") from exc
    item = form.get(field)
    if not isinstance(item, UploadFile):
        raise ApiError(422, "missing_file", f"multipart field '{field}' with an image file is required")
    data = await item.read()
    await form.close()
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    return data


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"upload exceeds {max_bytes} bytes")
