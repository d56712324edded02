"""An upper bound for every request body, on every route (including routes added later).

Routes that take uploads check their own, tighter limit (service.api.upload); this bound makes
sure no route can be made to buffer more, whether the size is declared or the body is chunked.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import ApiError, error_body


def too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"request body exceeds {max_bytes} bytes")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await _reject(send, self.max_bytes)
            return
        seen, exceeded = 0, False

        async def limited_receive() -> Message:
            nonlocal seen, exceeded
            if exceeded:  # the rest of the body is not wanted: nothing more is read from the client
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    exceeded = True
                    raise too_large(self.max_bytes)  # answered by the app's ApiError handler
            return message

        await self.app(scope, limited_receive, send)


async def _reject(send: Send, max_bytes: int) -> None:
    error = too_large(max_bytes)
    body = json.dumps(error_body(error.code, error.message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
