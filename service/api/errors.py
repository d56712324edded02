"""JSON errors: every failure leaves as `{"error": {"code", "message"}}` with a fitting status."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.admission import Overloaded
from service.api.security_headers import ALWAYS
from service.faults import FrameStoreUnavailable, classify
from service.imaging import ImageError
from service.privacy import AnonymiserUnavailable

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str = Field(description="Machine-readable, e.g. `payload_too_large`")
    message: str = Field(description="For people: what went wrong and, where possible, what to do")


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def invalid_form(exc: ValidationError) -> ApiError:
    """Form fields that failed validation: the same 422 `invalid_request` as bad query parameters."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "form"
    return ApiError(422, "invalid_request", f"{where}: {first['msg']}")


def error_body(code: str, message: str, **extra: object) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type"}


def document_errors(app: FastAPI) -> None:
    """Describe every documented 4xx/5xx response in the OpenAPI schema with the body the handlers
    below really send (FastAPI would document its own 422 shape), so clients and schema-based
    tests see the truth."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            defs = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(defs.pop("$defs", {}))
            components["ErrorResponse"] = defs
            envelope = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
            for path, operations in schema.get("paths", {}).items():
                for operation in operations.values():
                    _add_shared_statuses(path, operation)
                    for status, response in operation.get("responses", {}).items():
                        if status[0] in "45":
                            response["content"] = envelope
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


_FILTERS = {"bbox", "datetime", "limit", "offset", "f"}  # OGC parameters: 400 `invalid_parameter` as OGC asks


def _add_shared_statuses(path: str, operation: dict[str, Any]) -> None:
    """Statuses that whole classes of routes share, documented where a route did not say more."""
    responses = operation.setdefault("responses", {})
    shared: dict[str, str] = {}
    if "requestBody" in operation:
        shared["400"] = "A malformed body (JSON or multipart)"
        shared["413"] = "Request body (or image) over the limit (`payload_too_large`, `image_too_large`)"
    if {p.get("name") for p in operation.get("parameters", [])} & _FILTERS:
        shared["400"] = "A filter parameter that cannot be parsed (`invalid_parameter`)"
    if "{" in path:
        shared["404"] = "No such resource"
    if "401" in responses:  # every keyed request looks up its key in the database
        shared["503"] = "The database is unavailable (`database_unavailable`, `Retry-After`)"
    for status, description in shared.items():
        responses.setdefault(status, {"description": description})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), exc.status, headers=exc.headers)

    @app.exception_handler(ImageError)
    async def _image_error(_: Request, exc: ImageError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, str(exc)), exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        message = f"{'.'.join(first['loc'])}: {first['msg']}" if first["loc"] else first["msg"]
        return JSONResponse(error_body("invalid_request", message, details=details), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)

    @app.exception_handler(AnonymiserUnavailable)
    async def _no_anonymiser(_: Request, exc: AnonymiserUnavailable) -> JSONResponse:
        """Never an identifiable image instead: nothing was stored or returned."""
        return JSONResponse(error_body("anonymiser_unavailable", str(exc)), 503)

    @app.exception_handler(Overloaded)
    async def _overloaded(_: Request, exc: Overloaded) -> JSONResponse:
        return JSONResponse(error_body("busy", str(exc)), 503, headers={"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(OSError)
    @app.exception_handler(SQLAlchemyError)
    @app.exception_handler(FrameStoreUnavailable)
    async def _fault(request: Request, exc: Exception) -> JSONResponse:
        """Disk, database and frame-store faults (service.faults) as 503/507; handled here, not
        re-raised as a crash. The request's transaction rolled back: nothing was changed."""
        fault = classify(exc)
        if fault is None:
            return _internal_error(request)
        log.error("%s on %s %s: %s", fault.code, request.method, request.url.path, exc)
        headers = {"Retry-After": str(fault.retry_after_s)} if fault.retry_after_s else None
        return JSONResponse(error_body(fault.code, fault.message), fault.status, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _internal_error(request)


def _internal_error(request: Request) -> JSONResponse:
    """The 500 answer. Starlette sends it from outside every middleware, so it carries the
    security headers itself."""
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    headers = {name.decode(): value.decode() for name, value in ALWAYS}
    return JSONResponse(
        error_body("internal_error", "internal server error; see the service log"), 500, headers=headers
    )
