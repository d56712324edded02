"""Retention: a frame's image can be deleted while its position, time and detections stay.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("frames") as batch:
        batch.alter_column("image_path", existing_type=sa.String(length=255), nullable=True)
        batch.add_column(sa.Column("image_deleted_at", sa.DateTime(), nullable=True))
    op.create_index("ix_frames_received", "frames", ["received_at"])


def downgrade() -> None:
    """Frames whose image was deleted keep an empty path: the column is NOT NULL again."""
    op.drop_index("ix_frames_received", table_name="frames")
    op.execute("UPDATE frames SET image_path = '' WHERE image_path IS NULL")
    with op.batch_alter_table("frames") as batch:
        batch.drop_column("image_deleted_at")
        batch.alter_column("image_path", existing_type=sa.String(length=255), nullable=False)
