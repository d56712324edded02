"""Initial schema: frames, detections, damage records, road segments, jobs.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "frames",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("drive_id", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("captured_at", sa.DateTime(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("heading_deg", sa.Float(), nullable=True),
        sa.Column("position_source", sa.String(length=16), nullable=True),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("image_path", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("drive_id", "sha256", name="uq_frames_drive_sha256"),
    )
    op.create_index("ix_frames_drive_time", "frames", ["drive_id", "captured_at"])

    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("drive_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )

    op.create_table(
        "road_segments",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("drive_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("coordinates", sa.JSON(), nullable=False),
        sa.Column("min_lon", sa.Float(), nullable=False),
        sa.Column("min_lat", sa.Float(), nullable=False),
        sa.Column("max_lon", sa.Float(), nullable=False),
        sa.Column("max_lat", sa.Float(), nullable=False),
        sa.Column("length_m", sa.Float(), nullable=False),
        sa.Column("start_time", sa.DateTime(), nullable=True),
        sa.Column("end_time", sa.DateTime(), nullable=True),
        sa.Column("damage_count", sa.Integer(), nullable=False),
        sa.Column("damage_index", sa.Float(), nullable=False),
        sa.Column("grade", sa.Integer(), nullable=False),
        sa.Column("graded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_road_segments_drive_id", "road_segments", ["drive_id"])
    op.create_index("ix_segments_bbox", "road_segments", ["min_lon", "min_lat", "max_lon", "max_lat"])

    op.create_table(
        "damage_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("drive_id", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("class_name", sa.String(length=64), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("max_confidence", sa.Float(), nullable=False),
        sa.Column("best_frame_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["best_frame_id"], ["frames.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_damage_category_position", "damage_records", ["category", "lon", "lat"])
    op.create_index("ix_damage_lookup", "damage_records", ["drive_id", "class_name", "lat", "lon"])

    op.create_table(
        "detections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("frame_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=20), nullable=False),
        sa.Column("detector", sa.String(length=64), nullable=False),
        sa.Column("detector_version", sa.String(length=64), nullable=False),
        sa.Column("class_name", sa.String(length=64), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("x1", sa.Float(), nullable=False),
        sa.Column("y1", sa.Float(), nullable=False),
        sa.Column("x2", sa.Float(), nullable=False),
        sa.Column("y2", sa.Float(), nullable=False),
        sa.Column("area_fraction", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("position_method", sa.String(length=16), nullable=True),
        sa.Column("damage_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["damage_id"], ["damage_records.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["frame_id"], ["frames.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_detections_damage_id", "detections", ["damage_id"])
    op.create_index("ix_detections_frame_id", "detections", ["frame_id"])
    op.create_index("ix_detections_position", "detections", ["lon", "lat"])


def downgrade() -> None:
    op.drop_table("detections")
    op.drop_table("damage_records")
    op.drop_table("road_segments")
    op.drop_table("jobs")
    op.drop_table("frames")
