"""/docs in a real headless Chromium: Swagger UI from the service's own files, under its CSP."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from gis_helpers import live_server
from test_map_page import browser, watched_page  # noqa: F401 - the shared Chromium fixture

from service.api.app import create_app
from service.config import Settings


def test_docs_render_offline_under_the_content_security_policy(browser, tmp_path: Path) -> None:  # noqa: F811
    (tmp_path / "weights").mkdir()
    app = create_app(Settings(weights_dir=str(tmp_path / "weights"), data_dir=tmp_path / "data"))
    with TestClient(app) as client:
        policy = client.get("/docs").headers["content-security-policy"]
    assert "script-src 'self' 'sha256-" in policy and "frame-ancestors 'none'" in policy
    with live_server(app) as base:
        page, requests, errors = watched_page(browser, f"{base}/docs")
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)  # CSP refusals
        page.reload()  # with the console watched from the start
        page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
        assert "stadtblick" in page.inner_text(".swagger-ui .info .title")
        assert page.locator(".opblock").count() >= 20, "every operation is listed"
        assert all(u.startswith(base) or u.startswith("data:") for u in requests), "no CDN or other host"
        assert errors == []
        page.close()
