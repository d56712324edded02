"""The map page: damage records and road condition grades on a Leaflet map (vendored, no CDN)."""

from __future__ import annotations

import json
from functools import cache

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from service.api.deps import State
from service.web import WEB_DIR

router = APIRouter(prefix="/ui", tags=["ui"])


@cache
def _template() -> str:
    return (WEB_DIR / "map.html").read_text(encoding="utf-8")


@router.get("/map", response_class=HTMLResponse, summary="Map of damages and graded road segments")
def map_page(state: State) -> HTMLResponse:
    config = {
        "ogcRoot": "/ogc",
        "tileUrl": state.settings.map_tile_url,
        "attribution": state.settings.map_tile_attribution,
    }
    # `<` escaped so no value can close the <script> element the JSON sits in.
    payload = json.dumps(config).replace("<", "\\u003c")
    return HTMLResponse(_template().replace("__CONFIG__", payload))
