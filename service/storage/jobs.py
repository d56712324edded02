"""Background job records: progress that any worker or request can read."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.storage.models import Job

MAX_ERRORS = 50
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


class JobRepository:
    def __init__(self, session: Session):
        self.session = session

    def create(self, kind: str, total: int, drive_id: str | None = None, created_by: str | None = None) -> Job:
        job = Job(
            id=str(uuid.uuid4()),
            kind=kind,
            drive_id=drive_id,
            status=QUEUED,
            total=total,
            errors=[],
            created_by=created_by,
        )
        self.session.add(job)
        self.session.flush()
        return job

    def get(self, job_id: str) -> Job | None:
        return self.session.get(Job, job_id)

    def report(self, job_id: str, status: str, processed: int, failed: int, errors: list[str]) -> None:
        """Write the whole state the runner holds (not increments): a write that failed loses nothing.

        Errors beyond MAX_ERRORS: the first ones and the last (which says why a stopped job stopped)."""
        job = self.session.get(Job, job_id)
        if job is not None:
            job.status, job.processed, job.failed = status, processed, failed
            job.errors = errors if len(errors) <= MAX_ERRORS else [*errors[: MAX_ERRORS - 1], errors[-1]]

    def fail_interrupted(self) -> list[str | None]:
        """At start-up: jobs left queued or running by a previous process will never finish.

        Returns the drives of those jobs (frames stored before the interruption still need grading).
        """
        unfinished = Job.status.in_((QUEUED, RUNNING))
        drives = list(self.session.scalars(select(Job.drive_id).where(unfinished).distinct()))
        stmt = (
            update(Job)
            .where(unfinished)
            .values(status=FAILED, errors=["interrupted: the service stopped before the job finished"])
        )
        self.session.execute(stmt)
        return drives
