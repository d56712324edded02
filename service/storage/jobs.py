"""Background job records: progress that any worker or request can read."""

from __future__ import annotations

import uuid

from sqlalchemy import update
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

    def progress(self, job_id: str, ok: bool, error: str | None = None) -> None:
        job = self.session.get(Job, job_id)
        if job is None:
            return
        job.status = RUNNING
        job.processed += 1
        if not ok:
            job.failed += 1
            if error and len(job.errors) < MAX_ERRORS:
                job.errors = [*job.errors, error]

    def finish(self, job_id: str, status: str, error: str | None = None) -> None:
        job = self.session.get(Job, job_id)
        if job is not None:
            job.status = status
            if error:
                job.errors = [*job.errors, error][-MAX_ERRORS:]

    def fail_interrupted(self) -> int:
        """At start-up: jobs left queued or running by a previous process will never finish."""
        stmt = (
            update(Job)
            .where(Job.status.in_((QUEUED, RUNNING)))
            .values(status=FAILED, errors=["interrupted: the service stopped before the job finished"])
        )
        return self.session.execute(stmt).rowcount or 0
