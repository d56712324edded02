"""Durable batch jobs: each frame staged in the database until a worker processed it, the job's
processing parameters, and (on PostgreSQL) the schema of the procrastinate task queue.

Jobs left queued or running by a version that held their frames in memory have no staged frames:
they can never finish and are marked failed here.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

#: procrastinate's own objects (tables, types, functions), named with this prefix.
QUEUE_PREFIX = "procrastinate_"


def upgrade() -> None:
    op.create_table(
        "staged_frames",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "seq", name="uq_staged_frames_job_seq"),
    )
    op.create_index("ix_staged_frames_created_at", "staged_frames", ["created_at"])
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("params", sa.JSON(), nullable=True))
    op.execute(
        "UPDATE jobs SET status = 'failed' WHERE status IN ('queued', 'running')"
    )  # their frames were in the memory of a stopped process
    if op.get_bind().dialect.name == "postgresql":
        from procrastinate.schema import SchemaManager

        # The schema of the installed procrastinate (pinned in pyproject.toml); a version with
        # another schema comes with a revision that applies its migration files.
        op.get_bind().connection.driver_connection.execute(SchemaManager.get_schema())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("events", "periodic_defers", "jobs", "workers"):
            op.execute(f"DROP TABLE IF EXISTS {QUEUE_PREFIX}{table} CASCADE")
        op.execute(
            f"""DO $$ DECLARE f regprocedure; t text; BEGIN
              FOR f IN SELECT oid::regprocedure FROM pg_proc WHERE proname LIKE '{QUEUE_PREFIX}%' LOOP
                EXECUTE 'DROP FUNCTION ' || f || ' CASCADE'; END LOOP;
              FOR t IN SELECT typname FROM pg_type WHERE typname LIKE '{QUEUE_PREFIX}%' AND typtype IN ('e', 'c') LOOP
                EXECUTE 'DROP TYPE IF EXISTS ' || t || ' CASCADE'; END LOOP;
            END $$"""
        )
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("params")
    op.drop_index("ix_staged_frames_created_at", table_name="staged_frames")
    op.drop_table("staged_frames")
