"""PostGIS on PostgreSQL (migration 0006): the extension, generated geometry columns, GiST
indexes the bbox queries use, and the way back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from db_backends import PostgresServer
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from bench.bbox_query import city_boxes, fill, parse_args, run
from service.geo.boxes import GeoBox
from service.storage import Database
from service.storage.database import alembic_config
from service.storage.filtering import FeatureQuery
from service.storage.frames import detections_query

GEOMETRY_COLUMNS = {
    ("damage_records", "geom"),
    ("detections", "geom"),
    ("frames", "geom"),
    ("road_segments", "bbox"),
}


def geometry_columns(db: Database) -> set[tuple[str, str]]:
    with db.engine.connect() as c:
        query = "SELECT table_name, column_name FROM information_schema.columns WHERE udt_name = 'geometry'"
        return {tuple(row) for row in c.execute(text(query))}


@pytest.fixture
def bare(postgres_server: PostgresServer) -> Iterator[Database]:
    """A database made from template0: without PostGIS, as a new production database is."""
    db = Database(postgres_server.create_database(template="template0"))
    yield db
    db.dispose()


def test_migration_installs_postgis_and_fills_existing_rows(bare: Database) -> None:
    bare.upgrade("0005")
    with bare.engine.begin() as c:
        fill(c, 20)  # rows stored before PostGIS existed
    bare.upgrade()
    assert geometry_columns(bare) == GEOMETRY_COLUMNS
    with bare.engine.connect() as c:
        assert c.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")).scalar()
        wrong = "SELECT count(*) FROM {} WHERE NOT ST_Equals(geom, ST_SetSRID(ST_MakePoint(lon, lat), 4326))"
        assert c.execute(text(wrong.format("detections"))).scalar() == 0
        assert c.execute(text("SELECT DISTINCT ST_SRID(geom) FROM frames")).scalars().all() == [4326]
        c.execute(text("UPDATE frames SET lon = 1.5, lat = 2.5 WHERE id = 1"))  # generated: cannot drift
        assert c.execute(text("SELECT ST_AsText(geom) FROM frames WHERE id = 1")).scalar() == "POINT(1.5 2.5)"
        gist = "SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%USING gist%' ORDER BY indexname"
        assert c.execute(text(gist)).scalars().all() == [
            "ix_damage_geom",
            "ix_detections_geom",
            "ix_frames_geom",
            "ix_segments_bbox_geom",
        ]


def test_downgrade_removes_the_columns_and_keeps_the_rows(bare: Database) -> None:
    bare.upgrade()
    with bare.engine.begin() as c:
        fill(c, 20)
    config = alembic_config(bare.url.render_as_string(hide_password=False))
    command.downgrade(config, "0005")
    assert geometry_columns(bare) == set()
    with bare.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM detections")).scalar() == 20
    bare.upgrade()
    assert geometry_columns(bare) == GEOMETRY_COLUMNS


def _plan(db: Database, box: GeoBox) -> str:
    """PostgreSQL's plan for the service's detection query (OGC items, GeoJSON export)."""
    compiled = detections_query(FeatureQuery(bbox=box)).limit(10).compile(dialect=postgresql.psycopg.dialect())
    with db.engine.connect() as c:
        return "\n".join(c.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).scalars())


def test_bbox_queries_use_the_gist_index(postgres_server: PostgresServer) -> None:
    db = Database(postgres_server.create_database())
    db.upgrade()
    with db.engine.begin() as c:
        fill(c, 20_000)
    for box in [*city_boxes(3), GeoBox(179.5, -10.0, -179.5, 10.0)]:  # the last across the antimeridian
        plan = _plan(db, box)
        assert "ix_detections_geom" in plan, plan
    db.dispose()


def test_the_benchmark_runs(postgres_server: PostgresServer) -> None:
    """bench/bbox_query.py at a tiny size: it fills, migrates, drops the indexes and reports."""
    url = postgres_server.create_database(template="template0")
    table = run(parse_args(["--rows", "200", "--queries", "3", "--warmup", "1", "--database-url", url]))
    assert "200 detections" in table and table.count("\n| ") == 8, table  # header, rule, two shapes x three variants
    with pytest.raises(SystemExit, match="empty database"):
        run(parse_args(["--rows", "200", "--queries", "3", "--database-url", url]))
