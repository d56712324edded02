"""PostGIS on PostgreSQL: a geometry generated from the stored lon/lat (or a segment's bounding
box) and a GiST index on it, for the bbox filters. SQLite is unchanged (no-op).

The extension stays on downgrade: other schemas of the database may use it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_POINT = "ST_SetSRID(ST_MakePoint(lon, lat), 4326)"
# (table, column, geometry type, generated from, GiST index)
_COLUMNS = [
    ("frames", "geom", "POINT", _POINT, "ix_frames_geom"),
    ("detections", "geom", "POINT", _POINT, "ix_detections_geom"),
    ("damage_records", "geom", "POINT", _POINT, "ix_damage_geom"),
    (
        "road_segments",
        "bbox",
        "POLYGON",
        "ST_MakeEnvelope(min_lon, min_lat, max_lon, max_lat, 4326)",
        "ix_segments_bbox_geom",
    ),
]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    available = bind.exec_driver_sql("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'").first()
    if available is None:
        raise RuntimeError(
            "PostgreSQL needs the PostGIS extension: install it on the database server "
            "(Debian: apt-get install postgresql-15-postgis-3; Docker: the postgis/postgis image)"
        )
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    for table, column, geometry_type, expression, index in _COLUMNS:
        geometry = Geometry(geometry_type, srid=4326, spatial_index=False)
        op.add_column(table, sa.Column(column, geometry, sa.Computed(expression, persisted=True)))
        op.create_index(index, table, [column], postgresql_using="gist")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, _, _, index in reversed(_COLUMNS):
        op.drop_index(index, table_name=table)
        op.drop_column(table, column)
