"""Review decisions at the storage level, on both backends: a damage record is recomputed from the
sightings it keeps, deleted with its last one, regraded; the migration keeps existing detections."""

from __future__ import annotations

import pytest
from alembic import command
from gis_helpers import D2_START, D2_T0, drive
from sqlalchemy import select, text

from service.auth.keys import Principal, Role
from service.gis.ingest import FrameIngestor
from service.review.decisions import Decision, ReviewDesk
from service.storage import Database
from service.storage.database import alembic_config
from service.storage.models import DamageRecord, Detection, RoadSegment

ADMIN = Principal("k1", "admin-1", Role.ADMIN)


def state(db: Database) -> tuple[list[DamageRecord], list[Detection], list[int]]:
    with db.session() as session:
        records = list(session.scalars(select(DamageRecord)))
        detections = list(session.scalars(select(Detection).order_by(Detection.confidence.desc())))
        grades = list(session.scalars(select(RoadSegment.grade).order_by(RoadSegment.seq)))
    return records, detections, grades


def test_rejecting_sightings_recomputes_then_deletes_the_record(db: Database, ingestor: FrameIngestor) -> None:
    drive(ingestor, "d2", {40.0: "pothole"}, length_m=100, step_m=5, seed=1000, start=D2_START, t0=D2_T0)
    (record,), sightings, grades = state(db)
    assert record.count == 3 and len(sightings) == 3 and max(grades) >= 4
    best, second, third = sightings
    assert record.best_frame_id == best.frame_id and record.max_confidence == best.confidence
    desk = ReviewDesk(db, ingestor, lambda _detector: ["pothole", "crack"])

    desk.decide(ADMIN, best.id, Decision("reject"))
    (after,), _, _ = state(db)
    assert after.id == record.id, "GIS clients keep the feature id"
    record = after
    assert record.count == 2 and record.review_status == "unreviewed"
    assert record.best_frame_id == second.frame_id and record.max_confidence == second.confidence
    assert record.lon == pytest.approx((second.lon + third.lon) / 2, abs=1e-9)
    assert record.lat == pytest.approx((second.lat + third.lat) / 2, abs=1e-9)

    desk.decide(ADMIN, second.id, Decision("confirm"))
    (confirmed,), _, _ = state(db)
    assert (confirmed.id, confirmed.count, confirmed.review_status) == (record.id, 2, "confirmed")
    desk.decide(ADMIN, third.id, Decision("correct", class_name="crack"))
    records, _, _ = state(db)
    assert sorted((r.class_name, r.count, r.review_status) for r in records) == [
        ("crack", 1, "corrected"),
        ("pothole", 1, "confirmed"),
    ]

    desk.decide(ADMIN, second.id, Decision("reject"))
    desk.decide(ADMIN, third.id, Decision("reject"))
    records, detections, grades = state(db)
    assert records == [] and all(d.damage_id is None for d in detections)
    assert set(grades) == {1}, "no damage left on the drive"
    with db.session() as session:
        actions = session.execute(text("SELECT action FROM audit_events ORDER BY id")).scalars().all()
    assert actions == ["reject", "confirm", "correct", "reject", "reject"]


def test_migration_keeps_detections_unreviewed_and_downgrade_drops_drawn_boxes(
    db: Database, ingestor: FrameIngestor
) -> None:
    url = db.url.render_as_string(hide_password=False)
    command.downgrade(alembic_config(url), "0004")
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO frames (id, drive_id, sha256, received_at, width, height) "
                "VALUES (1, 'd', :sha, '2025-05-01 08:00:00', 320, 240)"
            ),
            {"sha": "0" * 64},
        )
        connection.execute(
            text(
                "INSERT INTO detections (frame_id, key, detector, detector_version, class_name, confidence, "
                "x1, y1, x2, y2, area_fraction) VALUES (1, 'k', 'road_damage', '1.0', 'pothole', 0.5, 1, 2, 3, 4, 0.1)"
            )
        )
    db.upgrade()
    with db.session() as session:
        old = session.scalars(select(Detection)).one()
        assert (old.review_status, old.detector_version, old.model_box) == ("unreviewed", "1.0", None)
    ReviewDesk(db, ingestor, lambda _detector: ["pothole"]).add(ADMIN, 1, "road_damage", "pothole", (10, 10, 50, 50))
    command.downgrade(alembic_config(url), "0004")
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT detector_version FROM detections")).scalars().all() == ["1.0"]
    db.upgrade()
