"""The browser pages: the map (damage records and road condition grades on a vendored Leaflet map),
the lost-property desk and the review of detections. Plain HTML/JS/CSS from service/web, no CDN."""

from __future__ import annotations

import json
from functools import cache

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from service.api.deps import State
from service.web import WEB_DIR

router = APIRouter(prefix="/ui", tags=["ui"])


@cache
def _template(name: str) -> str:
    return (WEB_DIR / name).read_text(encoding="utf-8")


@router.get("/map", response_class=HTMLResponse, summary="Map of damages and graded road segments")
def map_page(state: State) -> HTMLResponse:
    config = {
        "ogcRoot": "/ogc",
        "tileUrl": state.settings.map_tile_url,
        "attribution": state.settings.map_tile_attribution,
    }
    # `<` escaped so no value can close the <script> element the JSON sits in.
    payload = json.dumps(config).replace("<", "\\u003c")
    return HTMLResponse(_template("map.html").replace("__CONFIG__", payload))


@router.get("/review", response_class=HTMLResponse, summary="Review of detections: confirm, correct, reject, add")
def review_page() -> HTMLResponse:
    return HTMLResponse(_template("review.html"))


@router.get("/desk", response_class=HTMLResponse, summary="Lost-property desk: register found items, search")
def desk_page() -> HTMLResponse:
    return HTMLResponse(_template("desk.html"))
