"""Links in answers (OGC documents, job status URLs, photo links) name the service as configured,
never as the `Host` header of a request says: a forged header cannot plant another site's address
in documents that GIS clients follow and cache.

Every link is built from the request's base URL, so this middleware fixes the base URL once, for
all routes: `STADTBLICK_PUBLIC_URL` (behind a reverse proxy), else the address and port the
request arrived on.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send


def parse_public_url(url: str) -> tuple[str, str]:
    """(scheme, host[:port]) of a configured public URL; ValueError for anything else."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/") or parts.query:
        raise ValueError(f"public URL must be http(s)://host[:port] without a path, not {url!r}")
    return parts.scheme, parts.netloc


class PublicUrlMiddleware:
    def __init__(self, app: ASGIApp, public_url: str = ""):
        self.app = app
        self.fixed = parse_public_url(public_url) if public_url else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scheme, host = self.fixed or (scope.get("scheme", "http"), _served_at(scope))
            headers = [(k, v) for k, v in scope["headers"] if k != b"host"] + [(b"host", host.encode())]
            scope["scheme"], scope["headers"] = scheme, headers  # in place: outer middleware reads the route from it
        await self.app(scope, receive, send)


def _served_at(scope: Scope) -> str:
    server = scope.get("server")
    if not server:
        return "localhost"
    host, port = server[0], server[1]
    host = f"[{host}]" if ":" in host else host
    default = 443 if scope.get("scheme") == "https" else 80
    return host if port in (None, default) else f"{host}:{port}"
