"""Batch ingest of a drive: frames from a multipart upload or a zip, processed as a background job.

The frames stay in memory (originals never touch the disk): loose files as uploaded, zip members
still compressed, each unpacked only when the job reaches it and released once it is done, so a
job holds its upload plus one frame. Every frame ends with its own result: an image, archive or
processing error is recorded for that frame and the job goes on; only a fault of the service's
storage (full disk, unreachable database) stops it, saying how many frames were not processed.
Progress is kept in the jobs table, so `GET /v1/jobs/{id}` can be answered by any request.
"""

from __future__ import annotations

import io
import itertools
import logging
import threading
import time
import zipfile
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import CancelledError, Executor
from dataclasses import dataclass, field
from functools import partial
from pathlib import PurePosixPath

from service.admission import Admission
from service.faults import classify
from service.gis.ingest import ForeignDuplicate, FrameContext, FrameIngestor
from service.imaging import ImageError, ImageLimits
from service.inference import OnnxDetector
from service.pipeline import ParamOverrides, detect_bytes
from service.privacy import AnonymiserUnavailable
from service.storage import Database
from service.storage.jobs import DONE, FAILED, RUNNING, JobRepository
from service.text import visible

log = logging.getLogger(__name__)

JOB_KIND = "frames"
#: Entries of an archive beyond its frames (folders, hidden files) before it is refused unread.
ENTRIES_PER_FRAME = 4
_FINISH_RETRY_S = (1, 2, 5, 10, 30, 60)  # then every minute: a job is never left `queued` or `running`


class InvalidBatch(ValueError):
    """The upload holds no usable frames, too many, or an archive whose directory cannot be read."""


class FrameUnreadable(ValueError):
    """One frame of the batch cannot be read (a damaged, encrypted or oversized archive member)."""


@dataclass(frozen=True)
class BatchLimits:
    max_frames: int
    max_frame_bytes: int


@dataclass(frozen=True)
class PendingFrame:
    """A frame by name; its bytes are read when the job reaches it."""

    name: str
    read: Callable[[], bytes]


def collect_frames(
    files: Iterable[tuple[str, bytes]], archives: Iterable[bytes], limits: BatchLimits
) -> list[PendingFrame]:
    """Loose files in upload order, then each zip's members sorted by name (hidden entries skipped).

    Reads only the archives' directories (CPU-bound on a large archive: call it off the event loop).
    """
    frames = [PendingFrame(visible(name) or f"file-{i}", partial(bytes, data)) for i, (name, data) in enumerate(files)]
    for archive in archives:
        zf = _open_archive(archive, limits.max_frames * ENTRIES_PER_FRAME)
        members = sorted((m for m in zf.infolist() if _is_frame(m)), key=lambda m: m.filename)
        if len(frames) + len(members) > limits.max_frames:
            raise InvalidBatch(f"more than {limits.max_frames} frames in one batch")
        frames += [
            PendingFrame(visible(m.filename), partial(_read_member, zf, m, limits.max_frame_bytes)) for m in members
        ]
    if not frames:
        raise InvalidBatch("no frames: send image files in field 'files' or a zip in field 'archive'")
    if len(frames) > limits.max_frames:
        raise InvalidBatch(f"more than {limits.max_frames} frames in one batch")
    return frames


def _open_archive(archive: bytes, max_entries: int) -> zipfile.ZipFile:
    """The archive's directory, refused before it is parsed when it declares too many entries."""
    try:
        end = zipfile._EndRecData(io.BytesIO(archive))  # the end record: the entry count, read in O(1)
        if end is None:
            raise zipfile.BadZipFile("no end of central directory")
        if end[zipfile._ECD_ENTRIES_TOTAL] > max_entries:
            raise InvalidBatch(f"the archive has more than {max_entries} entries")
        return zipfile.ZipFile(io.BytesIO(archive))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError, ValueError) as exc:
        if isinstance(exc, InvalidBatch):
            raise
        raise InvalidBatch(f"the archive cannot be read: {exc}") from exc


def _read_member(zf: zipfile.ZipFile, member: zipfile.ZipInfo, max_bytes: int) -> bytes:
    """A member's bytes, read with a cap whatever its header declares (zip bombs)."""
    if member.flag_bits & 0x1:
        raise FrameUnreadable("encrypted archive members are not accepted")
    try:
        with zf.open(member) as fh:
            data = fh.read(max_bytes + 1)
    except (zipfile.BadZipFile, NotImplementedError, EOFError, OSError, ValueError, RuntimeError, zlib.error) as exc:
        raise FrameUnreadable(f"the archive member cannot be read: {exc}") from exc
    if len(data) > max_bytes:
        raise FrameUnreadable(f"over {max_bytes} bytes")
    return data


def _is_frame(member: zipfile.ZipInfo) -> bool:
    path = PurePosixPath(member.filename)
    return not member.is_dir() and not any(p.startswith(".") or p == "__MACOSX" for p in path.parts)


@dataclass
class Tally:
    """A job's progress as the runner knows it; written whole, so a failed write loses nothing."""

    processed: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def record(self, error: str | None) -> None:
        self.processed += 1
        if error is not None:
            self.failed += 1
            self.errors.append(error)


class BatchRunner:
    def __init__(
        self, db: Database, ingestor: FrameIngestor, executor: Executor, image_limits: ImageLimits, jobs: Admission
    ):
        self.db, self.ingestor, self.executor, self.image_limits = db, ingestor, executor, image_limits
        self.jobs = jobs  # each job holds its upload in memory until done: a bounded number of them
        # A job is a thread of its own that hands the executor one frame at a time: requests queued
        # in the same executor wait for one frame at most, never for a whole job.

    def submit(
        self,
        frames: list[PendingFrame],
        context: FrameContext,
        detectors: list[OnnxDetector],
        overrides: ParamOverrides,
    ) -> str:
        """Queue the frames as one job in a slot of `jobs` the caller acquired; the job releases it.

        On an exception the caller still holds the slot.
        """
        with self.db.transaction() as session:
            job = JobRepository(session).create(
                JOB_KIND, total=len(frames), drive_id=context.drive_id, created_by=context.uploader_name
            )
        worker = threading.Thread(
            target=self._run, args=(job.id, deque(frames), context, detectors, overrides), name=f"job-{job.id[:8]}"
        )
        worker.daemon = True
        worker.start()
        return job.id

    def _run(
        self,
        job_id: str,
        frames: deque[PendingFrame],
        context: FrameContext,
        detectors: list[OnnxDetector],
        overrides: ParamOverrides,
    ) -> None:
        tally, status = Tally(), DONE
        try:
            while frames:
                frame = frames.popleft()  # let each frame's bytes go once it is done
                try:
                    tally.record(self.executor.submit(self._one, frame, context, detectors, overrides).result())
                except Exception as exc:
                    fault = classify(exc)
                    if fault is None and not isinstance(exc, CancelledError):
                        raise
                    tally.record(f"{frame.name}: {fault.message if fault else 'interrupted: the service stopped'}")
                    tally.errors.append(f"stopped: {len(frames)} frame(s) after {frame.name} were not processed")
                    tally.failed += len(frames)
                    status = FAILED
                    break
                self._save(job_id, RUNNING, tally)
            self._grade(context.drive_id, tally)
        except Exception:  # a bug in the runner itself, not in a frame: say so instead of a stuck job
            log.exception("batch job %s failed", job_id)
            tally.errors.append("internal error; see the service log")
            status = FAILED
        finally:
            frames.clear()
            self.jobs.release()
        self._finish(job_id, status, tally)

    def _one(
        self, frame: PendingFrame, context: FrameContext, detectors: list[OnnxDetector], overrides: ParamOverrides
    ) -> str | None:
        """Ingest one frame; returns its error for the job, or None. Storage faults are raised."""
        try:
            run = detect_bytes(frame.read(), detectors, overrides, self.image_limits, full_resolution=True)
            self.ingestor.ingest(run, context, regrade=False)
        except ImageError as exc:
            return f"{frame.name}: {exc.message}"
        except (FrameUnreadable, ForeignDuplicate, AnonymiserUnavailable) as exc:
            return f"{frame.name}: {exc}"
        except Exception as exc:
            if classify(exc) is not None:
                raise
            log.exception("batch frame %s could not be processed", frame.name)
            return f"{frame.name}: internal error while processing this frame; see the service log"
        return None

    def _grade(self, drive_id: str, tally: Tally) -> None:
        try:
            self.ingestor.regrade(drive_id)
        except Exception as exc:
            fault = classify(exc)
            if fault is None:
                log.exception("grading drive %s failed", drive_id)
            tally.errors.append(f"grading the drive failed: {fault.message if fault else 'see the service log'}")

    def _save(self, job_id: str, status: str, tally: Tally) -> bool:
        try:
            with self.db.transaction() as session:
                JobRepository(session).report(job_id, status, tally.processed, tally.failed, tally.errors)
        except Exception as exc:
            log.warning("batch job %s: progress not written (%s); kept for the next write", job_id, exc)
            return False
        return True

    def _finish(self, job_id: str, status: str, tally: Tally) -> None:
        """Write the final state; retried in the background until the database takes it."""
        if self._save(job_id, status, tally):
            return

        def retry() -> None:
            for attempt in itertools.count():
                time.sleep(_FINISH_RETRY_S[min(attempt, len(_FINISH_RETRY_S) - 1)])
                if self._save(job_id, status, tally):
                    log.info("batch job %s: final state written after %d retries", job_id, attempt + 1)
                    return

        threading.Thread(target=retry, name=f"job-{job_id[:8]}-finish", daemon=True).start()
