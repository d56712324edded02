"""bbox filters answer the same on SQLite (lat/lon comparisons) and PostgreSQL (PostGIS `&&` with
the GiST index, then the same comparisons): one data set, stored in both, asked over HTTP.

The points sit where float rounding and index boxes could differ: on box edges and one
published unit (1e-7°) or one float step outside, on the antimeridian and the poles. Each
answer is also checked against the rule itself, computed here in Python: a feature is in the
box when its *published* position is (service.geo.precision).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from db_backends import PostgresServer
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.config import Settings
from service.geo.precision import lowest_stored, published
from service.storage.models import DamageRecord, DetectionRecord, Frame, RoadSegment

T = datetime(2025, 5, 1, 8, 0, tzinfo=timezone.utc)
EDGE_LON, EDGE_LAT = 13.4, 52.5  # the lower-left corner of the city box below


def _near(value: float) -> list[float]:
    """`value`, one published unit either side, and the stored values where publishing flips."""
    low = lowest_stored(value)
    return [value, value - 1e-7, value + 1e-7, low, math.nextafter(low, -math.inf)]


def _points() -> list[tuple[float, float]]:
    city = [(lon, lat) for lon in _near(EDGE_LON) for lat in _near(EDGE_LAT)]
    city += [(lon, 52.505) for lon in _near(13.41)] + [(13.405, lat) for lat in _near(52.51)]
    antimeridian = [
        (lon, lat)
        for lon in (180.0, -180.0, 179.9999999, -179.9999999, 179.95, -179.95, 179.9, -179.9, 179.8)
        for lat in (0.0, 10.0, -10.0, 10.0000001)
    ]
    poles = [(0.0, 90.0), (0.0, -90.0), (179.99, 89.9999999), (-179.99, -90.0)]
    rng = random.Random(25)
    scattered = [(rng.uniform(13.39, 13.42), rng.uniform(52.49, 52.52)) for _ in range(60)]
    scattered += [(rng.choice((1, -1)) * rng.uniform(179.7, 180), rng.uniform(-12, 12)) for _ in range(60)]
    return city + antimeridian + poles + scattered


def _lines() -> list[list[tuple[float, float]]]:
    return [
        [(13.39, 52.49), (13.4, 52.5)],  # its box touches the city box's corner
        [(13.39, 52.49), (13.3999999, 52.4999999)],  # one unit short of it
        [(13.39, 52.515), (13.42, 52.495)],  # crosses the box, no point inside
        [(13.41, 52.51), (13.43, 52.53)],  # touches the upper corner
        [(179.9, 0.0), (179.99, 1.0)],
        [(-179.99, 0.0), (-179.9, 1.0)],
        [(179.99, 5.0), (-179.99, 5.0)],  # stored naively across the antimeridian: its box spans the globe
        [(0.0, 89.9), (10.0, 90.0)],
    ]


BOXES = [
    "13.4,52.5,13.41,52.51",
    "13.4,52.5,13.4,52.5",  # a point
    "13.4000001,52.5000001,13.41,52.51",
    "13.3999999,52.4999999,13.4,52.5",
    "179.9,-10,-179.9,10",  # across the antimeridian
    "179.9999999,0,-179.9999999,10",
    "180,-90,-180,90",  # across: only the meridian ±180 itself
    "-180,-90,180,90",
    "-180,-10,-179.9,10",
    "179.9,-10,180,10",
    "170,89.9999999,-170,90",
    "-10,-90,10,-89.9",
]


def _random_boxes(count: int) -> list[str]:
    rng = random.Random(7)
    boxes = []
    for _ in range(count):
        if rng.random() < 0.5:
            lon, lat = rng.uniform(13.39, 13.42), rng.uniform(52.49, 52.52)
            w, h = rng.uniform(0, 0.02), rng.uniform(0, 0.02)
            boxes.append(f"{lon:.7f},{lat:.7f},{min(lon + w, 180):.7f},{lat + h:.7f}")
        else:  # across the antimeridian
            west, east, lat = rng.uniform(179.5, 180), rng.uniform(-180, -179.5), rng.uniform(-12, 8)
            boxes.append(f"{west:.7f},{lat:.7f},{east:.7f},{lat + rng.uniform(0, 6):.7f}")
    return boxes


def _store(app: FastAPI) -> None:
    """The same rows, in the same order (so the same ids), on each backend."""
    with app.state.service.database.transaction() as session:
        for i, (lon, lat) in enumerate(_points()):
            frame = Frame(
                drive_id="d", sha256=f"{i:064x}", captured_at=T, lon=lon, lat=lat, width=320, height=240,
                image_path=f"frames/{i}.jpg",
            )  # fmt: skip
            session.add(frame)
            session.flush()
            category, class_name = ("graffiti", "graffiti") if i % 5 == 0 else ("road_damage", "pothole")
            record = DamageRecord(
                drive_id="d", category=category, class_name=class_name, lon=lon, lat=lat, first_seen=T, last_seen=T,
                count=1, max_confidence=0.5, best_frame_id=frame.id,
            )  # fmt: skip
            session.add(record)
            session.flush()
            session.add(
                DetectionRecord(
                    frame_id=frame.id, key=f"det{i:05d}", detector="road_damage", detector_version="1",
                    class_name=class_name, confidence=0.5, x1=0, y1=0, x2=10, y2=10, area_fraction=0.01,
                    lon=lon, lat=lat, position_method="camera", damage_id=record.id,
                )
            )  # fmt: skip
        for seq, line in enumerate(_lines()):
            lons, lats = [p[0] for p in line], [p[1] for p in line]
            session.add(
                RoadSegment(
                    id=f"d.{seq}", drive_id="d", seq=seq, coordinates=[list(p) for p in line],
                    min_lon=min(lons), min_lat=min(lats), max_lon=max(lons), max_lat=max(lats), length_m=50.0,
                    start_time=T, end_time=T, damage_count=0, damage_index=0.0, grade=1,
                )
            )  # fmt: skip


@pytest.fixture(scope="module")
def clients(postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[TestClient]]:
    """One service on SQLite, one on PostgreSQL, holding the same rows."""
    folder = tmp_path_factory.mktemp("bbox")
    (folder / "weights").mkdir()
    urls = {"sqlite": f"sqlite:///{folder / 'bbox.db'}", "postgresql": postgres_server.create_database()}
    apps = []
    for backend, url in urls.items():
        settings = Settings(weights_dir=str(folder / "weights"), data_dir=folder / backend, database_url=url)
        app = create_app(settings, load_in_background=False)
        app.state.service.open_storage()
        _store(app)
        apps.append(app)
    with TestClient(apps[0]) as sqlite, TestClient(apps[1]) as postgresql:
        yield [sqlite, postgresql]


def _inside(lon: float, lat: float, box: str) -> bool:
    min_lon, min_lat, max_lon, max_lat = map(float, box.split(","))
    lon, lat = published(lon), published(lat)
    lon_ok = min_lon <= lon <= max_lon if min_lon <= max_lon else lon >= min_lon or lon <= max_lon
    return lon_ok and min_lat <= lat <= max_lat


def _overlaps(line: list[tuple[float, float]], box: str) -> bool:
    min_lon, min_lat, max_lon, max_lat = map(float, box.split(","))
    west, east = published(min(p[0] for p in line)), published(max(p[0] for p in line))
    south, north = published(min(p[1] for p in line)), published(max(p[1] for p in line))
    lon_ok = west <= max_lon and east >= min_lon if min_lon <= max_lon else east >= min_lon or west <= max_lon
    return lon_ok and south <= max_lat and north >= min_lat


def _answers(client: TestClient, box: str) -> dict[str, dict]:
    """Every route with a bbox filter, all matches on one page; the response time stamps left out."""
    routes = {
        "road_damage": ("/ogc/collections/road_damage/items", 1000),
        "graffiti": ("/ogc/collections/graffiti/items", 1000),
        "road_condition": ("/ogc/collections/road_condition/items", 1000),
        "detections": ("/v1/detections.geojson", 1000),
        "review queue": ("/v1/review/queue", 200),
    }
    answers = {}
    for name, (path, limit) in routes.items():
        response = client.get(path, params={"bbox": box, "limit": limit})
        assert response.status_code == 200, response.text
        answers[name] = {k: v for k, v in response.json().items() if k != "timeStamp"}
    return answers


@pytest.mark.parametrize("box", BOXES + _random_boxes(30))
def test_both_backends_answer_the_same_features(clients: list[TestClient], box: str) -> None:
    sqlite, postgresql = (_answers(client, box) for client in clients)
    assert sqlite == postgresql
    points = _points()
    expected = {f"det{i:05d}" for i, (lon, lat) in enumerate(points) if _inside(lon, lat, box)}
    assert {f["properties"]["detection_key"] for f in sqlite["detections"]["features"]} == expected
    assert sqlite["detections"]["numberMatched"] == len(expected)
    damages = {f["id"] for name in ("road_damage", "graffiti") for f in sqlite[name]["features"]}
    assert len(damages) == len(expected)
    assert sqlite["review queue"]["matched"] == len(expected)
    lines = {f"d.{seq}" for seq, line in enumerate(_lines()) if _overlaps(line, box)}
    assert {f["id"] for f in sqlite["road_condition"]["features"]} == lines


def test_the_boxes_reach_the_edges(clients: list[TestClient]) -> None:
    """The data set is not trivial: edge points are in, their neighbours one unit off are out."""
    ids = {f["properties"]["detection_key"] for f in _answers(clients[1], BOXES[0])["detections"]["features"]}
    points = _points()
    corner = points.index((EDGE_LON, EDGE_LAT))
    outside = points.index((EDGE_LON - 1e-7, EDGE_LAT))
    assert f"det{corner:05d}" in ids and f"det{outside:05d}" not in ids
    across = _answers(clients[1], "180,-90,-180,90")["detections"]["features"]
    assert {abs(f["geometry"]["coordinates"][0]) for f in across} == {180.0}
