"""`python -m bench.bbox_query`: bbox query latency on many synthetic detections in PostGIS,
with the GiST index (migration 0006) and without any spatial index.

Stores `--rows` detections (default 1 million; ten per frame, frames spread uniformly over
Germany's bounding box) with `generate_series` in two statements, at schema revision 0005, then
times migration 0006 on them (the generated geometry columns and their GiST indexes). Each
query is the service's own storage call for an OGC or GeoJSON request
(`service.storage.frames.find_detections`: number matched plus the first page of 10, as ORM
objects with their frames) for random boxes, p50/p95 over `--queries` boxes of each shape:
city-sized (about 17 x 17 km) and corridors (2° x 0.02°, about 140 x 2 km); and, to show what
the index itself changes, the count(*) of that same query alone. Box by box, the same query
also runs with the GiST index dropped (the planner falls back to the B-tree on (lon, lat) that
SQLite uses too) and with that dropped as well (a sequential scan, on every sixth box: it takes
about a second). Each drop happens in the query's transaction and is rolled back, so the
variants take turns under the same background load; an untimed query of each box first puts
its rows in the caches for all of them.

Without `--database-url` the script starts a throwaway PostgreSQL server (initdb in a temporary
folder, the test suite's helper; needs Debian's postgresql and postgresql-15-postgis-3); with
it, give an EMPTY database on a server with PostGIS: the script fills it with the synthetic rows.
Prints a Markdown table (docs/scaling.md, "## PostGIS").
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, func, select, text
from sqlalchemy.orm import Session

from bench.machine import machine_info
from bench.timing import summarize
from service.geo.boxes import GeoBox
from service.storage import Database
from service.storage.filtering import FeatureQuery
from service.storage.frames import detections_query, find_detections

REPO = Path(__file__).resolve().parents[1]
REGION = GeoBox(5.9, 47.3, 15.0, 55.1)  # Germany's bounding box
CITY_DEG = (0.25, 0.15)  # lon, lat: about 17 x 17 km at 51° N
# Box shapes (lon, lat degrees): a B-tree on (lon, lat) narrows by longitude only, the GiST index by both.
SHAPES = {"city (0.25° x 0.15°)": CITY_DEG, "corridor (2° x 0.02°)": (2.0, 0.02)}
PER_FRAME = 10

_FRAMES = """
INSERT INTO frames (drive_id, sha256, received_at, captured_at, lon, lat, width, height)
SELECT 'bench-' || (g / 1000), lpad(to_hex(g), 64, '0'), now(), now(),
       :west + random() * (:east - :west), :south + random() * (:north - :south), 1920, 1080
FROM generate_series(1, :frames) AS g
"""
_DETECTIONS = """
INSERT INTO detections (frame_id, key, detector, detector_version, class_name, confidence,
                        x1, y1, x2, y2, area_fraction, lon, lat, position_method)
SELECT f.id, 'b' || f.id || '_' || k, 'road_damage', 'bench', 'pothole', random(),
       0, 0, 10, 10, 0.001, f.lon + (random() - 0.5) * 0.0006, f.lat + (random() - 0.5) * 0.0004, 'projected'
FROM frames AS f CROSS JOIN generate_series(1, :per_frame) AS k
"""


def fill(connection: Connection, rows: int, seed: float = 0.25) -> None:
    """`rows` synthetic detections (rounded up to whole frames of ten) in REGION, reproducibly."""
    connection.execute(text("SELECT setseed(:seed)"), {"seed": seed})
    region = {"west": REGION.min_lon, "east": REGION.max_lon, "south": REGION.min_lat, "north": REGION.max_lat}
    connection.execute(text(_FRAMES), {**region, "frames": -(-rows // PER_FRAME)})
    connection.execute(text(_DETECTIONS), {"per_frame": PER_FRAME})
    connection.exec_driver_sql("ANALYZE frames")
    connection.exec_driver_sql("ANALYZE detections")


def city_boxes(count: int, seed: int = 25, size: tuple[float, float] = CITY_DEG) -> list[GeoBox]:
    """Random boxes of `size` (city-sized by default) inside REGION."""
    rng = random.Random(seed)
    width, height = size
    boxes = []
    for _ in range(count):
        west = rng.uniform(REGION.min_lon, REGION.max_lon - width)
        south = rng.uniform(REGION.min_lat, REGION.max_lat - height)
        boxes.append(GeoBox(west, south, west + width, south + height))
    return boxes


@contextmanager
def scratch_database(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    sys.path.insert(0, str(REPO / "tests"))
    from db_backends import PostgresServer  # the test suite's throwaway server (initdb, pg_ctl)

    server = PostgresServer().start()
    try:
        yield server.create_database()
    finally:
        server.stop()


@dataclass(frozen=True)
class Variant:
    name: str
    dropped: tuple[str, ...]  # indexes dropped for the query (in its transaction, rolled back)
    every: int = 1  # measured on every n-th box only


VARIANTS = (
    Variant("PostGIS GiST (`&&`, then the exact lat/lon test)", ()),
    Variant("no spatial index: B-tree on (lon, lat), as on SQLite", ("ix_detections_geom",)),
    Variant(
        "no index on the position (sequential scan; every 6th box)", ("ix_detections_geom", "ix_detections_position"), 6
    ),
)


@dataclass
class Samples:
    service: list[float] = field(default_factory=list)  # the storage call: count + first page as ORM objects
    sql: list[float] = field(default_factory=list)  # the count(*) of the same query alone: what the index changes
    matched: list[int] = field(default_factory=list)


def query_once(db: Database, variant: Variant, box: GeoBox) -> tuple[float, float, int]:
    """(service call s, count SQL s, matched) for one box, the variant's indexes dropped in a
    transaction that is rolled back: the variants take turns on the same table."""
    query = FeatureQuery(bbox=box, limit=10)
    with db.engine.connect() as connection:
        transaction = connection.begin()
        try:
            for index in variant.dropped:
                connection.exec_driver_sql(f"DROP INDEX {index}")  # names from VARIANTS, not input
            start = time.perf_counter()
            with Session(bind=connection) as session:
                count, _ = find_detections(session, query)
            middle = time.perf_counter()
            connection.execute(select(func.count()).select_from(detections_query(query).subquery())).scalar_one()
            return middle - start, time.perf_counter() - middle, count
        finally:
            transaction.rollback()


def measure(db: Database, boxes: list[GeoBox], warmup: int) -> dict[Variant, Samples]:
    """The variants interleaved box by box, so that each sees the same background load, after
    an untimed query of the box, so that each finds its rows in the same caches."""
    samples = {variant: Samples() for variant in VARIANTS}
    for i, box in enumerate(boxes[:warmup]):
        for variant in VARIANTS:
            if i % variant.every == 0:
                query_once(db, variant, box)
    for i, box in enumerate(boxes):
        query_once(db, VARIANTS[0], box)
        for variant in VARIANTS:
            if i % variant.every == 0:
                service_s, sql_s, count = query_once(db, variant, box)
                samples[variant].service.append(service_s)
                samples[variant].sql.append(sql_s)
                samples[variant].matched.append(count)
    return samples


def timed(step: Callable[[], None]) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def run(args: argparse.Namespace) -> str:
    machine = machine_info()
    with scratch_database(args.database_url) as url:
        db = Database(url)
        if db.current_revision() is not None:
            raise SystemExit("bench.bbox_query fills the database with synthetic rows: give it an empty database")
        db.upgrade("0005")
        with db.engine.begin() as connection:
            insert_s = timed(lambda: fill(connection, args.rows))
        migrate_s = timed(db.upgrade)
        with db.engine.connect() as connection:
            rows = connection.exec_driver_sql("SELECT count(*) FROM detections").scalar_one()
            versions = "SELECT postgis_lib_version(), current_setting('server_version')"
            version = connection.exec_driver_sql(versions).one()
        results = {name: measure(db, city_boxes(args.queries, size=size), args.warmup) for name, size in SHAPES.items()}
        db.dispose()
    lines = [
        f"{rows:,} detections ({rows // PER_FRAME:,} frames) uniform in lon {REGION.min_lon}..{REGION.max_lon}, "
        f"lat {REGION.min_lat}..{REGION.max_lat} (Germany's bounding box); PostgreSQL {version[1]}, "
        f"PostGIS {version[0]}; {machine['cpu_model']}, {machine['usable_cores']} usable cores, "
        f"load average at start {machine['load_average_at_start']}.",
        f"Bulk insert {insert_s:.1f} s; migration 0006 on these rows (generated columns and GiST indexes "
        f"of frames and detections) {migrate_s:.1f} s.",
        "",
        f"| {args.queries} boxes of each shape | index | service call p50 ms | p95 ms | count(*) SQL p50 ms "
        "| p95 ms | matched (mean) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for shape, samples_of in results.items():
        for variant, samples in samples_of.items():
            service, sql = summarize(samples.service), summarize(samples.sql)
            lines.append(
                f"| {shape} | {variant.name} | {service.p50_ms:.2f} | {service.p95_ms:.2f} | {sql.p50_ms:.2f} "
                f"| {sql.p95_ms:.2f} | {sum(samples.matched) / len(samples.matched):.0f} |"
            )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.bbox_query", description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="synthetic detections (default 1,000,000)")
    p.add_argument("--queries", type=int, default=300, help="random city-sized boxes per variant (default 300)")
    p.add_argument("--warmup", type=int, default=20, help="untimed queries first, per variant (default 20)")
    p.add_argument("--database-url", help="an EMPTY PostgreSQL database with PostGIS (default: a throwaway server)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    print(run(parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
