"""/ogc/api?f=html in a real headless Chromium: Swagger UI, served by the service itself, shows the
OGC API definition and can call it."""

from __future__ import annotations

from pathlib import Path

from gis_helpers import live_server, seeded_app
from test_map_page import browser, watched_page  # noqa: F401 - the shared Chromium fixture


def test_swagger_ui_shows_and_calls_the_ogc_api(browser, tmp_path: Path) -> None:  # noqa: F811
    (tmp_path / "weights").mkdir()
    app = seeded_app(f"sqlite:///{tmp_path / 'ogc.db'}", tmp_path / "data", tmp_path / "weights")
    with live_server(app) as base:
        page, requests, errors = watched_page(browser, f"{base}/ogc/api?f=html")
        page.wait_for_selector(".opblock-summary-path", timeout=30_000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert "/collections/{collectionId}/items" in [p.strip() for p in paths]
        assert "stadtblick OGC API" in page.inner_text(".info .title")
        page.locator(".opblock-summary-path", has_text="/conformance").first.click()
        page.locator("button.try-out__btn").first.click()
        page.locator("button.execute").first.click()
        body = page.wait_for_selector(".live-responses-table .response-col_description pre", timeout=30_000)
        assert "ogcapi-features-1/1.0/conf/core" in body.inner_text()
        assert all(u.startswith(base) for u in requests), "nothing from a CDN or any other host"
        assert f"{base}/ogc/api?f=json" in requests and errors == []
        page.close()
