"""`stadtblick serve`: run the HTTP API with uvicorn."""

from __future__ import annotations

import argparse
import logging
import sys

from service.config import Settings, UnsafeConfiguration


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the HTTP API")
    p.add_argument("--host", default=None, help="bind address (default STADTBLICK_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default STADTBLICK_PORT or 8000)")
    p.add_argument("--log-level", default="info")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from service.api.app import create_app

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    settings.host = args.host or settings.host
    port = args.port or settings.port
    try:
        app = create_app(settings)
    except UnsafeConfiguration as exc:
        print(f"stadtblick serve: refusing to start: {exc}", file=sys.stderr)
        return 2
    # Requests are bounded (limits, tiles): a stop waits for them at most this long.
    uvicorn.run(app, host=settings.host, port=port, log_level=args.log_level, timeout_graceful_shutdown=30)
    return 0
