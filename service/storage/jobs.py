"""Background job records: progress that any worker or request can read, and the frames a batch
job staged for its workers."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from service.storage.models import Job, StagedFrame

MAX_ERRORS = 50
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
UNFINISHED = (QUEUED, RUNNING)


class JobRepository:
    def __init__(self, session: Session):
        self.session = session

    def create(
        self,
        kind: str,
        total: int,
        drive_id: str | None = None,
        created_by: str | None = None,
        params: dict | None = None,
    ) -> Job:
        job = Job(
            id=str(uuid.uuid4()),
            kind=kind,
            drive_id=drive_id,
            status=QUEUED,
            total=total,
            errors=[],
            created_by=created_by,
            params=params,
        )
        self.session.add(job)
        self.session.flush()
        return job

    def get(self, job_id: str) -> Job | None:
        return self.session.get(Job, job_id)

    def lock(self, job_id: str) -> Job | None:
        """The job, locked until the transaction ends: its progress is written by one worker at a time."""
        return self.session.get(Job, job_id, with_for_update=True, populate_existing=True)

    def unfinished(self) -> list[str]:
        """Jobs queued or running, oldest first (whichever process or replica started them)."""
        stmt = select(Job.id).where(Job.status.in_(UNFINISHED)).order_by(Job.created_at)
        return list(self.session.scalars(stmt))

    def count_unfinished(self) -> int:
        return self.session.scalar(select(func.count()).select_from(Job).where(Job.status.in_(UNFINISHED))) or 0


def count_settled(job: Job, error: str | None = None) -> None:
    """One more frame of the job settled; with `error`, one that failed."""
    job.processed += 1
    if error is not None:
        job.failed += 1
        add_error(job, error)


def add_error(job: Job, error: str) -> None:
    """Errors beyond MAX_ERRORS: the first ones and the last (which says why a stopped job stopped)."""
    kept = job.errors if len(job.errors) < MAX_ERRORS else job.errors[: MAX_ERRORS - 1]
    job.errors = [*kept, error]  # a new list: the JSON column notices the change


class StagedFrames:
    """A batch job's frames: pending (original kept) until their outcome is settled, once."""

    def __init__(self, session: Session):
        self.session = session

    def add(self, job_id: str, seq: int, name: str, data: bytes | None, outcome: str | None = None) -> None:
        frame = StagedFrame(job_id=job_id, seq=seq, name=name, data=data, outcome=outcome)
        self.session.add(frame)
        self.session.flush()
        self.session.expunge(frame)  # the session lets go of the bytes

    def pending(self, job_id: str) -> list[int]:
        stmt = select(StagedFrame.seq).where(StagedFrame.job_id == job_id, StagedFrame.outcome.is_(None))
        return list(self.session.scalars(stmt.order_by(StagedFrame.seq)))

    def pending_frame(self, job_id: str, seq: int) -> StagedFrame | None:
        stmt = select(StagedFrame).where(
            StagedFrame.job_id == job_id, StagedFrame.seq == seq, StagedFrame.outcome.is_(None)
        )
        return self.session.scalar(stmt)

    def settle(self, job_id: str, outcome: str, seq: int | None = None) -> int:
        """Record the outcome of a pending frame (all pending frames when `seq` is None) and delete
        its original; returns how many were still pending, so a frame settled twice counts once."""
        stmt = update(StagedFrame).where(StagedFrame.job_id == job_id, StagedFrame.outcome.is_(None))
        if seq is not None:
            stmt = stmt.where(StagedFrame.seq == seq)
        return self.session.execute(stmt.values(outcome=outcome, data=None)).rowcount

    def count_pending(self, job_id: str) -> int:
        stmt = select(func.count()).where(StagedFrame.job_id == job_id, StagedFrame.outcome.is_(None))
        return self.session.scalar(stmt) or 0

    def stale(self, before: datetime, limit: int) -> list[int]:
        """Ids of pending frames staged before `before`, oldest first."""
        stmt = (
            select(StagedFrame.id)
            .where(StagedFrame.outcome.is_(None), StagedFrame.created_at < before)
            .order_by(StagedFrame.created_at, StagedFrame.id)
            .limit(limit)
        )
        return list(self.session.scalars(stmt))

    def names(self, ids: list[int]) -> list[tuple[str, int, str]]:
        """(job, seq, name) of the given frames, without their bytes."""
        stmt = select(StagedFrame.job_id, StagedFrame.seq, StagedFrame.name).where(StagedFrame.id.in_(ids))
        return [(job_id, seq, name) for job_id, seq, name in self.session.execute(stmt.order_by(StagedFrame.id))]

    def discard(self, job_id: str) -> None:
        self.session.execute(delete(StagedFrame).where(StagedFrame.job_id == job_id))
