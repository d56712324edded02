"""Human review of detections: each detection's decision (who, when, what the model said before
a correction), boxes drawn by staff (no model version), and the review status of damage records.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("detections") as batch:
        batch.alter_column("detector_version", existing_type=sa.String(length=64), nullable=True)
        batch.add_column(sa.Column("review_status", sa.String(length=16), nullable=False, server_default="unreviewed"))
        batch.add_column(sa.Column("reviewed_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("reviewed_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("model_class_name", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("model_box", sa.JSON(), nullable=True))
    op.create_index("ix_detections_review", "detections", ["review_status", "confidence"])
    with op.batch_alter_table("damage_records") as batch:
        batch.add_column(sa.Column("review_status", sa.String(length=16), nullable=False, server_default="unreviewed"))


def downgrade() -> None:
    """Boxes drawn by staff have no model version: they go, the model's detections stay."""
    with op.batch_alter_table("damage_records") as batch:
        batch.drop_column("review_status")
    op.drop_index("ix_detections_review", table_name="detections")
    op.execute("DELETE FROM detections WHERE detector_version IS NULL")
    with op.batch_alter_table("detections") as batch:
        batch.drop_column("model_box")
        batch.drop_column("model_class_name")
        batch.drop_column("reviewed_at")
        batch.drop_column("reviewed_by")
        batch.drop_column("review_status")
        batch.alter_column("detector_version", existing_type=sa.String(length=64), nullable=False)
