"""The desk page in a real headless Chromium against a live service: upload → recognised → save → found."""

from __future__ import annotations

from pathlib import Path

from desk_helpers import desk_app, desk_weights, umbrella_photo
from gis_helpers import live_server
from test_map_page import browser, watched_page  # noqa: F401 - the shared Chromium fixture


def test_register_an_umbrella_and_find_it(browser, tmp_path: Path) -> None:  # noqa: F811
    weights = desk_weights(tmp_path / "weights")
    photo = tmp_path / "schirm.jpg"
    photo.write_bytes(umbrella_photo())
    with live_server(desk_app(weights, tmp_path / "data")) as base:
        page, requests, errors = watched_page(browser, f"{base}/ui/desk#key=unused-without-auth")
        assert page.get_attribute("#photo", "capture") == "environment"
        page.set_input_files("#photo", str(photo))
        page.wait_for_selector("body[data-state=recognised]", timeout=30_000)
        assert page.input_value("#category") == "schirm"
        assert page.input_value("#colors").startswith("schwarz")
        page.fill("input[name=found_place]", "Tram 4")
        page.click("#save")
        page.wait_for_selector("body[data-state=saved]", timeout=30_000)
        assert "Schirm" in page.inner_text("#status")
        page.fill("#q", "schwarzer Regenschirm")
        page.click("#search button")
        page.wait_for_selector("body[data-state=searched]", timeout=30_000)
        results = page.locator("#results li")
        assert (
            results.count() == 1 and "Schirm" in results.first.inner_text() and "Tram 4" in results.first.inner_text()
        )
        assert all(u.startswith(base) or u.startswith("blob:") for u in requests), "no CDN or other host"
        assert errors == []
        page.close()
