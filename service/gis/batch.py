"""Batch ingest of a drive: frames from a multipart upload or a zip, processed as a background job.

The frames stay in memory (originals never touch the disk) and are released one by one as
the job works through them in the service's inference pool; progress is kept in the jobs
table, so `GET /v1/jobs/{id}` can be answered by any request.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import PurePosixPath

from service.admission import Admission
from service.gis.ingest import FrameContext, FrameIngestor
from service.gis.storing import detect_and_store
from service.imaging import ImageError, ImageLimits
from service.inference import OnnxDetector
from service.pipeline import ParamOverrides
from service.storage import Database
from service.storage.jobs import DONE, FAILED, JobRepository

log = logging.getLogger(__name__)

JOB_KIND = "frames"


class InvalidBatch(ValueError):
    """The upload holds no usable frames, too many, or a broken archive."""


@dataclass(frozen=True)
class BatchLimits:
    max_frames: int
    max_frame_bytes: int
    max_total_bytes: int


def collect_frames(
    files: Iterable[tuple[str, bytes]], archives: Iterable[bytes], limits: BatchLimits
) -> list[tuple[str, bytes]]:
    """Loose files in upload order, then each zip's members sorted by name (hidden entries skipped)."""
    frames = [(name or f"file-{i}", data) for i, (name, data) in enumerate(files)]
    total = sum(len(d) for _, d in frames)
    for archive in archives:
        try:
            with zipfile.ZipFile(io.BytesIO(archive)) as zf:
                members = sorted((m for m in zf.infolist() if _is_frame(m)), key=lambda m: m.filename)
                if len(frames) + len(members) > limits.max_frames:
                    raise InvalidBatch(f"more than {limits.max_frames} frames in one batch")
                for member in members:
                    with zf.open(member) as fh:  # never trust the declared size: read with a cap
                        data = fh.read(limits.max_frame_bytes + 1)
                    if len(data) > limits.max_frame_bytes:
                        raise InvalidBatch(f"{member.filename}: over {limits.max_frame_bytes} bytes")
                    total += len(data)
                    if total > limits.max_total_bytes:
                        raise InvalidBatch(f"the unpacked frames exceed {limits.max_total_bytes} bytes")
                    frames.append((member.filename, data))
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
            raise InvalidBatch(f"the archive cannot be read: {exc}") from exc
    if not frames:
        raise InvalidBatch("no frames: send image files in field 'files' or a zip in field 'archive'")
    if len(frames) > limits.max_frames:
        raise InvalidBatch(f"more than {limits.max_frames} frames in one batch")
    return frames


def _is_frame(member: zipfile.ZipInfo) -> bool:
    path = PurePosixPath(member.filename)
    return not member.is_dir() and not any(p.startswith(".") or p == "__MACOSX" for p in path.parts)


class BatchRunner:
    def __init__(
        self, db: Database, ingestor: FrameIngestor, executor: Executor, image_limits: ImageLimits, jobs: Admission
    ):
        self.db, self.ingestor, self.executor, self.image_limits = db, ingestor, executor, image_limits
        self.jobs = jobs  # each job holds its frames in memory until done: a bounded number of them

    def submit(
        self,
        frames: list[tuple[str, bytes]],
        context: FrameContext,
        detectors: list[OnnxDetector],
        overrides: ParamOverrides,
    ) -> str:
        """Queue the frames as one job; raises `Overloaded` when too many jobs are pending."""
        self.jobs.acquire()
        try:
            with self.db.transaction() as session:
                job = JobRepository(session).create(
                    JOB_KIND, total=len(frames), drive_id=context.drive_id, created_by=context.uploader_name
                )
            self.executor.submit(self._run, job.id, deque(frames), context, detectors, overrides)
        except BaseException:
            self.jobs.release()
            raise
        return job.id

    def _run(
        self,
        job_id: str,
        frames: deque[tuple[str, bytes]],
        context: FrameContext,
        detectors: list[OnnxDetector],
        overrides: ParamOverrides,
    ) -> None:
        try:
            while frames:
                name, data = frames.popleft()  # let each frame's bytes go once it is done
                error = self._one(name, data, context, detectors, overrides)
                with self.db.transaction() as session:
                    JobRepository(session).progress(job_id, ok=error is None, error=error)
            self.ingestor.regrade(context.drive_id)
            status, error = DONE, None
        except Exception:
            log.exception("batch job %s failed", job_id)
            status, error = FAILED, "internal error; see the service log"
        finally:
            frames.clear()
            self.jobs.release()
        with self.db.transaction() as session:
            JobRepository(session).finish(job_id, status, error)

    def _one(
        self, name: str, data: bytes, context: FrameContext, detectors: list[OnnxDetector], overrides: ParamOverrides
    ) -> str | None:
        """Ingest one frame; returns an error message for the job, or None."""
        try:
            detect_and_store(data, detectors, overrides, self.image_limits, context, self.ingestor, regrade=False)
        except ImageError as exc:
            return f"{name}: {exc.message}"
        return None
