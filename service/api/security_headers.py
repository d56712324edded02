"""Headers that tell browsers what the service's answers may do: never be framed, never be
sniffed into another type, and on HTML pages run only the service's own scripts.

A page's Content-Security-Policy allows scripts from the service and, by their SHA-256, the
inline scripts of that very page (Swagger UI's initialiser; the map's JSON configuration), so
no page has to be written around the policy and no injected script can run.
"""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.config import Settings

ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def image_source(tile_url: str) -> str:
    """The origin a Leaflet tile URL template loads from (`{s}` subdomains as `*`), or '' when none."""
    parts = urlsplit(tile_url.replace("{s}", "*"))
    if parts.scheme not in ("http", "https") or not parts.netloc or "{" in parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}"


def page_policy(html: bytes, image_sources: str = "") -> str:
    """The Content-Security-Policy of one HTML page."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'" for body in _INLINE_SCRIPT.findall(html)
    )
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {hashes}".strip(),
            "style-src 'self' 'unsafe-inline'",  # style attributes set by Leaflet and Swagger UI
            f"img-src 'self' data: blob: {image_sources}".strip(),
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings):
        self.app, self.settings = app, settings  # the map's tile server, as configured now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        body: list[bytes] = []

        async def secured_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() not in dict(ALWAYS)]
                message = {**message, "headers": headers + ALWAYS}
                if dict(headers).get(b"content-type", b"").startswith(b"text/html"):
                    start = message  # held until the page is complete: its policy depends on it
                    return
            elif message["type"] == "http.response.body" and start is not None:
                body.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                page = b"".join(body)
                policy = page_policy(page, image_source(self.settings.map_tile_url)).encode()
                await send({**start, "headers": [*start["headers"], (b"content-security-policy", policy)]})
                message = {"type": "http.response.body", "body": page}
            await send(message)

        await self.app(scope, receive, secured_send)
