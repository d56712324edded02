"""The review loop end to end (issue #27): frames stored over HTTP → in a real headless Chromium an
inspector rejects one pothole, confirms one, draws a missed crack and drags a box → the OGC layer
shows the statuses and the rejected pothole has left the grade → the review export imports into a
YOLO dataset that validates and holds exactly the boxes people stand behind."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from gis_helpers import live_server
from review_helpers import DRIVE, SQUARE, damage_statuses, grades, import_review, keys, review_app, store_drive
from test_map_page import browser  # noqa: F401 - the shared Chromium fixture


def drag(page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, steps=4)
    page.mouse.move(*end, steps=4)
    page.mouse.up()


def test_review_loop_end_to_end(browser, tmp_path: Path) -> None:  # noqa: F811
    app = review_app(f"sqlite:///{tmp_path / 'review.db'}", tmp_path)
    k = keys(app)
    inspector_key = k["inspector"]["Authorization"].removeprefix("Bearer ")
    with live_server(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        drive = store_drive(client, k["inspector"])
        assert grades(client, k["gis"]) == {"r1.0": 4, "r1.1": 4, "r1.2": 4}

        page = browser.new_page(viewport={"width": 1280, "height": 900})
        requests: list[str] = []
        errors: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/ui/review#key={inspector_key}")
        assert "key=" not in page.url, "the key leaves the address bar"

        def at(detection_id: int) -> None:
            page.wait_for_selector(f'body[data-state=ready] #stage[data-detection="{detection_id}"]', timeout=30_000)

        at(drive.a)  # lowest confidence first
        page.keyboard.press("x")
        at(drive.b)
        page.keyboard.press("c")
        at(drive.c)

        frame = page.locator("#frame").bounding_box()
        scale = frame["width"] / 320
        # A crack the model missed, drawn left of the pothole: N, drag, 2 (the second class), Enter.
        page.keyboard.press("n")
        drag(
            page,
            (frame["x"] + 20 * scale, frame["y"] + 100 * scale),
            (frame["x"] + 100 * scale, frame["y"] + 150 * scale),
        )
        page.keyboard.press("2")
        page.keyboard.press("Enter")
        page.wait_for_selector("#stage .other", timeout=30_000)
        at(drive.c)
        # The pothole's box is 16 px too low: drag it up by its body, then Enter saves the correction.
        box = page.locator("#box").bounding_box()
        centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        drag(page, centre, (centre[0], centre[1] - 16 * scale))
        page.keyboard.press("Enter")
        page.wait_for_selector("body[data-state=empty]", timeout=30_000)
        assert page.evaluate("window.stadtblick.decided") == 4
        assert all(u.startswith(base) or u.startswith("blob:") for u in requests), "no CDN or other host"
        assert errors == []
        page.close()

        items = client.get(
            "/v1/review/queue",
            params={"drive_id": DRIVE, "status": "confirmed,rejected,corrected,added"},
            headers=k["gis"],
        ).json()["items"]
        by_status = {i["review_status"]: i for i in items}
        assert sorted(by_status) == ["added", "confirmed", "corrected", "rejected"]
        assert by_status["rejected"]["id"] == drive.a and by_status["confirmed"]["id"] == drive.b
        corrected, added = by_status["corrected"], by_status["added"]
        assert corrected["id"] == drive.c and corrected["model_box"] == list(map(float, SQUARE))
        assert abs(corrected["box"][1] - (SQUARE[1] - 16)) <= 1.5 and corrected["box"][3] - corrected["box"][1] == 64
        assert added["class"] == "crack" and added["model_version"] is None and added["frame_id"] == drive.frames[2]
        assert abs(added["box"][0] - 20) <= 1.5 and abs(added["box"][3] - 150) <= 1.5

        # The OGC layer shows the statuses; the rejected pothole left its segment's grade.
        assert damage_statuses(client, k["gis"]) == [
            ("crack", "added"),
            ("pothole", "confirmed"),
            ("pothole", "corrected"),
        ]
        assert grades(client, k["gis"]) == {"r1.0": 1, "r1.1": 4, "r1.2": 4}

        data_yaml, boxes = import_review(client, k["admin"], tmp_path)
        expected = {(b["class"], *(round(v) for v in b["box"])) for b in (by_status["confirmed"], corrected, added)}
        assert boxes == expected
        source = json.loads((data_yaml.parent / "provenance.json").read_text())["sources"][0]
        assert source["spec"].startswith("review:") and source["drives"] == {DRIVE: ["2025-05-01"]}
        assert source["images"] == 3 and source["boxes"] == 3, "the rejected pothole's frame, without boxes; no frame 4"
