"""Road condition: track segmentation, the grade formula, and grades of a real drive."""

from __future__ import annotations

import itertools

import pytest
from gis_helpers import START, along, drive, frame_time
from sqlalchemy import select

from service.geo.geodesy import LonLat, distance_m
from service.geo.grading import Damage, GradingRules, TrackPoint, grade_segments, split_track
from service.gis.ingest import FrameIngestor
from service.storage import Database
from service.storage.models import RoadSegment


def track(*distances: float) -> list[TrackPoint]:
    return [TrackPoint(along(d), frame_time(i)) for i, d in enumerate(distances)]


def test_track_is_cut_every_segment_length_and_segments_connect() -> None:
    segments = split_track(track(*range(0, 301, 10)), 50.0)
    assert [round(s.length_m) for s in segments] == [50] * 6
    for a, b in itertools.pairwise(segments):
        assert a.points[-1] == b.points[0], "consecutive segments share their boundary point"


def test_short_tail_joins_the_last_segment_and_gaps_break_the_track() -> None:
    assert [round(s.length_m) for s in split_track(track(*range(0, 71, 10)), 50.0)] == [70]
    gap = split_track(track(0, 10, 20, 30, 40, 50, 60, 400, 410, 420, 430, 440, 450, 460), 50.0)
    assert [round(s.length_m) for s in gap] == [60, 60]
    assert gap[0].points[-1] != gap[1].points[0]
    assert split_track(track(0, 0, 0), 50.0) == [], "a parked car makes no road segment"


def test_grade_formula_and_weights() -> None:
    rules = GradingRules()
    assert [rules.grade(i) for i in (0, 0.49, 0.5, 2, 3.9, 4, 8, 100)] == [1, 1, 2, 3, 3, 4, 5, 5]
    assert rules.damage_index(3.0, 50.0) == pytest.approx(6.0)
    assert rules.damage_index(1.0, 5.0) == pytest.approx(4.0), "short segments count as half a segment length"
    (segment,) = split_track(track(0, 25, 50), 50.0)
    pothole = grade_segments([segment], [Damage(along(20), "pothole")], rules)[0]
    crack = grade_segments([segment], [Damage(along(20), "crack")], rules)[0]
    graffiti = grade_segments([segment], [Damage(along(20), "graffiti")], rules)[0]
    far = grade_segments([segment], [Damage(LonLat(START.lon, START.lat + 0.01), "pothole")], rules)[0]
    assert pothole.grade > crack.grade > graffiti.grade == far.grade == 1
    with pytest.raises(ValueError):
        GradingRules(thresholds=(1, 3, 2, 4))


def test_damaged_stretch_grades_worse_than_intact_road(db: Database, ingestor: FrameIngestor) -> None:
    drive(ingestor, "d1", {120.0: "pothole", 130.0: "pothole", 140.0: "pothole", 270.0: "crack"}, length_m=300)
    with db.session() as session:
        segments = session.scalars(select(RoadSegment).order_by(RoadSegment.seq)).all()
    assert [s.id for s in segments] == [f"d1.{i}" for i in range(6)]
    grades = {round(distance_m(START, LonLat(*s.coordinates[0]))): s.grade for s in segments}
    assert grades == {0: 1, 50: 1, 100: 5, 150: 1, 200: 1, 250: 3}
    damaged = segments[2]
    assert damaged.damage_count == 3 and damaged.damage_index == pytest.approx(18.0)
    assert damaged.start_time == frame_time(10) and damaged.end_time == frame_time(15)
    assert len(damaged.coordinates) == 6 and damaged.min_lon < damaged.max_lon
