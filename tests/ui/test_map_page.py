"""The map page in a real headless Chromium (Debian's, driven by Playwright) against a live service."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from gis_helpers import live_server, seeded_app
from helpers import need

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists() or shutil.which("chromedriver") is None:
        if os.environ.get("CI"):
            raise RuntimeError("chromium missing: scripts/test.sh installs chromium and chromium-driver")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium chromium-driver)")
    sync_api = need("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def watched_page(browser, url: str) -> tuple[object, list[str], list[str]]:
    """A new page opened at `url`, with the URLs it requests and the script errors it raises."""
    page = browser.new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    return page, requests, errors


def app_with_tiles(tmp_path: Path, tile_url: str):
    (tmp_path / "weights").mkdir(exist_ok=True)
    app = seeded_app(f"sqlite:///{tmp_path / 'map.db'}", tmp_path / "data", tmp_path / "weights")
    app.state.service.settings.map_tile_url = tile_url
    return app


def test_page_and_vendored_leaflet_are_served(tmp_path: Path) -> None:
    app = app_with_tiles(tmp_path, "https://tiles.example/{z}/{x}/{y}.png?a=</script>")
    with TestClient(app) as client:
        page = client.get("/ui/map")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '"tileUrl": "https://tiles.example/{z}/{x}/{y}.png?a=\\u003c/script>"' in page.text
        assert "unpkg" not in page.text and "cdn" not in page.text.lower()
        for asset in (
            "vendor/leaflet/leaflet.js",
            "vendor/leaflet/leaflet.css",
            "map.js",
            "vendor/leaflet/images/layers.png",
        ):
            assert client.get(f"/ui/static/{asset}").status_code == 200, asset


@pytest.mark.parametrize("tiles", ["none", "unreachable"])
def test_map_shows_damages_and_graded_segments(browser, tmp_path: Path, tiles: str) -> None:
    tile_url = "" if tiles == "none" else "http://127.0.0.1:9/{z}/{x}/{y}.png"  # port 9: nothing listens
    with live_server(app_with_tiles(tmp_path, tile_url)) as base:
        page, requests, errors = watched_page(browser, f"{base}/ui/map")
        page.wait_for_selector("body[data-state=ready]", timeout=30_000)
        counts = page.evaluate("window.stadtblick.counts")
        assert counts == {"road_condition": 8, "road_damage": 5, "graffiti": 1}
        assert page.locator(".leaflet-overlay-pane path").count() == 14, "8 segment lines + 6 damage markers"
        red = page.locator('.leaflet-overlay-pane path[stroke="#d73027"]')
        assert red.count() == 1, "one segment has grade 5"
        assert "5 Straßenschäden" in page.inner_text("#status")
        page.locator('.leaflet-overlay-pane path[stroke="#b2182b"]').first.click(force=True)
        popup = page.wait_for_selector(".leaflet-popup-content", timeout=10_000)
        assert "pothole" in popup.inner_text() and "ungeprüft (nur Modell)" in popup.inner_text()
        tile_requests = [u for u in requests if "127.0.0.1:9/" in u]
        assert bool(tile_requests) == (tiles == "unreachable")
        assert all(u.startswith(base) or u in tile_requests for u in requests), "no CDN or other host"
        assert errors == []
        page.close()
