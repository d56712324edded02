"""The flat-ground pinhole model and the small-distance geodesy behind it."""

from __future__ import annotations

import math

import pytest
from gis_helpers import CAMERA, HEIGHT, START, WIDTH, along, row_of_ground_point

from service.geo.geodesy import LonLat, distance_m, offset, point_to_polyline_m
from service.geo.ground_position import CAMERA as CAMERA_METHOD
from service.geo.ground_position import PROJECTED, estimate, ground_offset


@pytest.mark.parametrize("metres", [3.0, 8.0, 15.0, 25.0])
def test_rows_low_in_the_frame_land_on_the_road_ahead(metres: float) -> None:
    forward, right = ground_offset(CAMERA, WIDTH, HEIGHT, WIDTH / 2, row_of_ground_point(metres))
    assert forward == pytest.approx(metres, rel=1e-6) and right == pytest.approx(0, abs=1e-9)
    box = (WIDTH / 2 - 10, 0, WIDTH / 2 + 10, row_of_ground_point(metres))
    got = estimate(CAMERA, START, 90.0, (WIDTH, HEIGHT), box)
    assert got.method == PROJECTED and distance_m(got.point, along(metres)) < 0.05


def test_objects_right_of_centre_lie_right_of_the_heading() -> None:
    forward, right = ground_offset(CAMERA, WIDTH, HEIGHT, WIDTH, HEIGHT)
    pitch = math.radians(CAMERA.pitch_deg)
    y = (HEIGHT / 2) / (WIDTH / 2)  # the bottom row, in focal lengths (hfov 90°: f = WIDTH / 2)
    assert right / forward == pytest.approx(1.0 / (math.cos(pitch) - y * math.sin(pitch)))
    got = estimate(CAMERA, START, 0.0, (WIDTH, HEIGHT), (WIDTH - 10, 0, WIDTH, HEIGHT))
    assert got.point.lon > START.lon and got.point.lat > START.lat, "heading north: right is east"


def test_camera_position_where_projection_is_unreliable() -> None:
    horizon = (0, 0, WIDTH, HEIGHT / 2 - 40)  # bottom edge above the horizon (pitch 10° ~ 28 px)
    far = (0, 0, WIDTH, row_of_ground_point(CAMERA.max_distance_m + 5))
    low = (0, 0, WIDTH, HEIGHT)
    for heading, box in ((90.0, horizon), (90.0, far), (None, low)):
        got = estimate(CAMERA, START, heading, (WIDTH, HEIGHT), box)
        assert got.method == CAMERA_METHOD and got.point == START and got.distance_m == 0


def test_geodesy() -> None:
    east = offset(START, 90.0, 1000.0)
    assert distance_m(START, east) == pytest.approx(1000.0, rel=1e-3)
    assert offset(LonLat(179.9999, 0.0), 90.0, 100.0).lon < -179.99, "wraps at the antimeridian"
    line = [START, east]
    assert point_to_polyline_m(offset(along(500), 0.0, 7.0), line) == pytest.approx(7.0, rel=1e-3)
    assert point_to_polyline_m(offset(START, 270.0, 30.0), line) == pytest.approx(30.0, rel=1e-3)
    assert point_to_polyline_m(START, [START]) == 0.0
