"""Storing frames: positions, privacy of the stored image, deduplication into damage records, idempotency."""

from __future__ import annotations

import io

import pytest
from gis_helpers import START, along, box_ahead, drive, frame_run, frame_time
from PIL import Image
from sqlalchemy import func, select

from service.geo.geodesy import LonLat, distance_m
from service.gis.ingest import FrameContext, FrameIngestor
from service.storage import Database
from service.storage.models import DamageRecord, DetectionRecord, Frame, RoadSegment


def count(db: Database, model: type) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def records(db: Database) -> list[DamageRecord]:
    with db.session() as session:
        return list(session.scalars(select(DamageRecord).order_by(DamageRecord.id)))


def test_same_pothole_in_five_frames_is_one_damage_record(db: Database, ingestor: FrameIngestor) -> None:
    pothole = 30.0  # metres along the road
    frames = drive(ingestor, "d1", {pothole: "pothole"}, length_m=40, step_m=3)
    (record,) = records(db)
    assert record.count == 5, "seen from 15, 12, 9, 6 and 3 m away"
    assert record.class_name == "pothole" and record.category == "road_damage"
    assert distance_m(LonLat(record.lon, record.lat), along(pothole)) < 1.0, "the ground projection finds it"
    assert record.first_seen == frame_time(5) and record.last_seen == frame_time(9)
    assert record.max_confidence == pytest.approx(0.84)  # the closest sighting, 3 m ahead
    with db.session() as session:
        best = session.get(Frame, record.best_frame_id)
        assert best is not None and best.captured_at == frame_time(9)
        linked = session.scalars(select(DetectionRecord).where(DetectionRecord.damage_id == record.id)).all()
        assert len(linked) == 5 and {d.position_method for d in linked} == {"projected"}
    assert count(db, Frame) == frames


def test_uploading_the_same_frame_twice_changes_nothing(db: Database, ingestor: FrameIngestor) -> None:
    here = along(0)
    context = FrameContext("d1", lat=here.lat, lon=here.lon, heading_deg=90.0, captured_at=frame_time(0))
    run = frame_run(1, [box_ahead("pothole", 0.8, 8.0), box_ahead("crack", 0.5, 12.0)])
    first = ingestor.ingest(run, context)
    before = (count(db, Frame), count(db, DetectionRecord), [(r.id, r.count) for r in records(db)])
    again = ingestor.ingest(run, context)
    assert again.duplicate and not first.duplicate and again.frame_id == first.frame_id
    assert again.detections == first.detections
    assert (count(db, Frame), count(db, DetectionRecord), [(r.id, r.count) for r in records(db)]) == before
    other_drive = ingestor.ingest(run, FrameContext("d2", lat=here.lat, lon=here.lon, heading_deg=90.0))
    assert not other_drive.duplicate, "idempotency is per drive"


def test_different_classes_places_and_drives_stay_apart(db: Database, ingestor: FrameIngestor) -> None:
    drive(ingestor, "d1", {50.0: "pothole", 51.0: "crack", 80.0: "pothole"}, length_m=90, step_m=5)
    drive(ingestor, "d2", {50.0: "pothole"}, length_m=60, step_m=5, seed=500)
    got = sorted((r.drive_id, r.class_name, round(distance_m(START, LonLat(r.lon, r.lat)))) for r in records(db))
    assert got == [("d1", "crack", 51), ("d1", "pothole", 50), ("d1", "pothole", 80), ("d2", "pothole", 50)]


def test_stored_image_is_a_jpeg_of_the_pixels(db: Database, ingestor: FrameIngestor) -> None:
    run = frame_run(7, [])
    result = ingestor.ingest(run, FrameContext("d1"))
    with db.session() as session:
        frame = session.get(Frame, result.frame_id)
        assert frame is not None and frame.lat is None and frame.position_source is None
        key = frame.image_path
    jpeg = ingestor.images.read(key)
    with Image.open(io.BytesIO(jpeg)) as img:
        assert img.format == "JPEG" and img.size == (320, 240)
    assert not list((ingestor.images.root / key).parent.glob(".incoming-*")), "no temporary file is left behind"


def test_exif_position_and_time_are_used_when_the_request_gives_none(db: Database, ingestor: FrameIngestor) -> None:
    from dataclasses import replace
    from datetime import datetime

    from service.imaging import GeoLocation, ImageMetadata

    run = frame_run(9, [box_ahead("pothole", 0.7, 6.0)])
    meta = ImageMetadata(GeoLocation(lat=START.lat, lon=START.lon, heading_deg=0.0), datetime(2025, 5, 1, 10, 0))
    run = replace(run, image=replace(run.image, metadata=meta))
    result = ingestor.ingest(run, FrameContext("d1"))
    assert result.position_source == "exif" and result.lat == START.lat
    assert result.captured_at is not None and result.captured_at.isoformat() == "2025-05-01T08:00:00+00:00"
    (det,) = result.detections
    assert det.lat is not None and det.lat > START.lat, "projected north along the EXIF heading"
    overridden = ingestor.ingest(run, FrameContext("d2", lat=50.0, lon=8.0))
    assert overridden.position_source == "request" and overridden.heading_deg == 0.0


def test_frames_without_position_make_no_damage_or_segment(db: Database, ingestor: FrameIngestor) -> None:
    ingestor.ingest(frame_run(3, [box_ahead("pothole", 0.9, 5.0)]), FrameContext("d1"))
    assert count(db, DetectionRecord) == 1 and count(db, DamageRecord) == 0 and count(db, RoadSegment) == 0


def test_frames_without_a_drive_are_deduplicated_but_not_graded(db: Database, ingestor: FrameIngestor) -> None:
    for i, s in enumerate((0.0, 60.0, 62.0)):  # two citizens report the same pothole 70 m along the road
        here = along(s)
        context = FrameContext(lat=here.lat, lon=here.lon, heading_deg=90.0, captured_at=frame_time(i))
        ingestor.ingest(frame_run(40 + i, [box_ahead("pothole", 0.8, 70.0 - s)] if s else []), context)
    (record,) = records(db)
    assert record.drive_id == "unassigned" and record.count == 2
    assert count(db, RoadSegment) == 0
