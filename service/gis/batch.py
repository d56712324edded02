"""Batch ingest of a drive: frames from a multipart upload or a zip, processed as a durable job.

Before the upload is acknowledged, every frame is staged in the database (`staged_frames`, zip
members unpacked one at a time) together with the job row, in one transaction: a process that
dies afterwards loses nothing. Processing one frame is one function, `BatchProcessor.process`,
whoever calls it: the threads of the one `stadtblick serve` on SQLite (`LocalRunner`), or any
number of `stadtblick worker` processes on PostgreSQL (`service.gis.queue`). A frame's outcome is
settled once, in the transaction that also counts it and deletes its original; a frame processed
again after a crash is stored once (sha256 + drive) and counted once. The job finishes (drive
graded, status written, staged rows deleted) in the transaction that settles its last frame.

Every frame ends with its own result: an image, archive or processing error is recorded for that
frame and the job goes on; only a fault of the frame store (full or read-only) stops it, saying
how many frames were not processed. A frame that meets an unavailable database, or whose outcome
cannot be written, is processed again later.
"""

from __future__ import annotations

import io
import logging
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import CancelledError, Executor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import PurePosixPath

from sqlalchemy.orm import Session

from service.auth import Principal, Role
from service.faults import classify
from service.gis.ingest import ForeignDuplicate, FrameContext, FrameIngestor
from service.gis.storing import detect_and_store
from service.imaging import ImageError, ImageLimits
from service.inference import OnnxDetector
from service.pipeline import ParamOverrides
from service.privacy import AnonymiserUnavailable
from service.registry.registry import ModelRegistry, ModelUnavailable
from service.storage import Database
from service.storage.jobs import DONE, FAILED, QUEUED, RUNNING, JobRepository, StagedFrames, add_error, count_settled
from service.storage.models import Job
from service.storage.retention import Due
from service.text import visible

log = logging.getLogger(__name__)

JOB_KIND = "frames"
#: Entries of an archive beyond its frames (folders, hidden files) before it is refused unread.
ENTRIES_PER_FRAME = 4
#: Outcomes of a staged frame.
STORED, FRAME_FAILED, SKIPPED = "stored", "failed", "skipped"
_RETRY_S = (1, 2, 5, 10, 30, 60)  # a frame whose outcome could not be written; then every minute


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
    """A frame by name; its bytes are read when it is staged."""

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


@dataclass(frozen=True)
class BatchParams:
    """How the frames of a job are processed; kept with the job, so any worker can take it up."""

    drive_id: str
    detectors: list[str]
    overrides: ParamOverrides
    uploaded_by: Principal | None = None

    def to_json(self) -> dict:
        o = self.overrides
        who = self.uploaded_by
        return {
            "detectors": self.detectors,
            "overrides": {"conf": o.conf, "iou": o.iou, "max_det": o.max_det},
            "uploaded_by": {"key_id": who.key_id, "name": who.name, "role": who.role.value} if who else None,
        }

    @classmethod
    def of(cls, job: Job) -> BatchParams:
        params = job.params or {}
        who = params.get("uploaded_by")
        return cls(
            drive_id=job.drive_id or "",
            detectors=list(params.get("detectors", [])),
            overrides=ParamOverrides(**params.get("overrides", {})),
            uploaded_by=Principal(who["key_id"], who["name"], Role(who["role"])) if who else None,
        )

    @property
    def context(self) -> FrameContext:
        return FrameContext(self.drive_id, uploaded_by=self.uploaded_by)


#: Defers the processing of a job's pending frames within the staging transaction (a task queue).
Defer = Callable[[Session, str, list[int]], None]


class BatchProcessor:
    """Stages batch jobs and processes their frames, one at a time, in whichever process calls it."""

    def __init__(self, db: Database, ingestor: FrameIngestor, registry: ModelRegistry, image_limits: ImageLimits):
        self.db, self.ingestor, self.registry, self.image_limits = db, ingestor, registry, image_limits

    def stage(self, frames: list[PendingFrame], params: BatchParams, defer: Defer | None = None) -> str:
        """The job row and every frame, in one transaction; returns the job id.

        Frames are unpacked one at a time (call it off the event loop); an unreadable archive
        member is settled as failed at once.
        """
        with self.db.transaction() as session:
            job = JobRepository(session).create(
                JOB_KIND,
                total=len(frames),
                drive_id=params.drive_id,
                created_by=params.uploaded_by.name if params.uploaded_by else None,
                params=params.to_json(),
            )
            staged = StagedFrames(session)
            for seq, frame in enumerate(frames):
                try:
                    data = frame.read()
                except FrameUnreadable as exc:
                    staged.add(job.id, seq, frame.name, None, outcome=FRAME_FAILED)
                    count_settled(job, f"{frame.name}: {exc}")
                    continue
                staged.add(job.id, seq, frame.name, data)
                del data
            pending = staged.pending(job.id)
            if not pending:
                self._finish(session, job, DONE)
            elif defer is not None:
                defer(session, job.id, pending)
            return job.id

    def process(self, job_id: str, seq: int) -> None:
        """Detect and store one staged frame, then settle it; nothing when it was settled already.

        Raises when the outcome could not be written (the caller processes the frame again later).
        """
        with self.db.session() as session:
            frame = StagedFrames(session).pending_frame(job_id, seq)
            job = JobRepository(session).get(job_id)
            if frame is None or frame.data is None or job is None:
                return  # processed before a crash, or its job is finished
            name, data, params = frame.name, frame.data, BatchParams.of(job)
        try:
            detectors = self._detectors(params.detectors)
            detect_and_store(
                data, detectors, params.overrides, self.image_limits, params.context, self.ingestor, regrade=False
            )
        except ImageError as exc:
            self._settle(job_id, seq, f"{name}: {exc.message}")
        except (ForeignDuplicate, AnonymiserUnavailable, ModelUnavailable) as exc:
            self._settle(job_id, seq, f"{name}: {exc}")
        except Exception as exc:
            fault = classify(exc)
            if fault is None:
                log.exception("batch frame %s could not be processed", name)
                self._settle(job_id, seq, f"{name}: internal error while processing this frame; see the service log")
            elif fault.code == "database_unavailable":
                raise  # nothing was stored: the frame is processed again once the database is back
            else:
                self._stop(job_id, seq, name, fault.message)
        else:
            self._settle(job_id, seq, None)

    def _detectors(self, names: list[str]) -> list[OnnxDetector]:
        unknown = [n for n in names if n not in self.registry.entries]
        if unknown:
            raise ModelUnavailable(f"detector(s) {', '.join(unknown)} not installed where this frame was processed")
        return [self.registry.get(n) for n in names]

    def _settle(self, job_id: str, seq: int, error: str | None) -> None:
        with self.db.transaction() as session:
            job = JobRepository(session).lock(job_id)
            if job is None or not StagedFrames(session).settle(job_id, FRAME_FAILED if error else STORED, seq):
                return  # settled by another worker that processed the same frame
            count_settled(job, error)
            self._progress(session, job)

    def _stop(self, job_id: str, seq: int, name: str, message: str) -> None:
        """A fault of the storage: this frame failed, and the job's pending frames are not tried."""
        with self.db.transaction() as session:
            job = JobRepository(session).lock(job_id)
            if job is None or job.status in (DONE, FAILED):
                return
            staged = StagedFrames(session)
            if staged.settle(job_id, FRAME_FAILED, seq):
                count_settled(job, f"{name}: {message}")
            skipped = staged.settle(job_id, SKIPPED)
            job.failed += skipped
            add_error(job, f"stopped: {skipped} frame(s) after {name} were not processed")
            self._finish(session, job, FAILED)

    def expire(self, session: Session, ids: list[int], max_age: timedelta) -> None:
        """Settle frames left pending too long as failed (their originals deleted), in the session."""
        hours = max_age.total_seconds() / 3600
        for job_id, seq, name in StagedFrames(session).names(ids):
            job = JobRepository(session).lock(job_id)
            if job is None or not StagedFrames(session).settle(job_id, FRAME_FAILED, seq):
                continue
            count_settled(job, f"{name}: not processed within {hours:g} h; the staged original was deleted")
            self._progress(session, job, FAILED)

    def _progress(self, session: Session, job: Job, final: str = DONE) -> None:
        if job.status == QUEUED:
            job.status = RUNNING
        if not StagedFrames(session).count_pending(job.id):
            self._finish(session, job, final)

    def _finish(self, session: Session, job: Job, status: str) -> None:
        """Grade the drive, write the final status and drop the staged rows; within the transaction
        that holds the job's lock, so two workers never both finish it."""
        if job.drive_id is not None:
            try:
                with session.begin_nested():
                    self.ingestor.regrade_in(session, job.drive_id)
            except Exception as exc:
                fault = classify(exc)
                if fault is None:
                    log.exception("grading drive %s failed", job.drive_id)
                add_error(job, f"grading the drive failed: {fault.message if fault else 'see the service log'}")
        job.status = status
        StagedFrames(session).discard(job.id)


class LocalRunner:
    """SQLite (one process): each job is a thread that hands `executor` one frame at a time, so
    requests queued in the same executor wait for one frame at most, never for a whole job."""

    def __init__(self, processor: BatchProcessor, executor: Executor, ready: threading.Event):
        self.processor, self.executor, self.ready = processor, executor, ready

    def start(self, job_id: str) -> None:
        threading.Thread(target=self._run, args=(job_id,), name=f"job-{job_id[:8]}", daemon=True).start()

    def resume(self) -> int:
        """At start-up: jobs a previous process left unfinished go on from their staged frames."""
        with self.processor.db.session() as session:
            unfinished = JobRepository(session).unfinished()
        for job_id in unfinished:
            self.start(job_id)
        return len(unfinished)

    def _run(self, job_id: str) -> None:
        self.ready.wait()  # the detectors and the anonymiser are loaded
        with self.processor.db.session() as session:
            pending = StagedFrames(session).pending(job_id)
        for seq in pending:
            attempt = 0
            while True:
                try:
                    future = self.executor.submit(self.processor.process, job_id, seq)
                except RuntimeError:
                    return  # submit() refuses only after shutdown: the job goes on at the next start
                try:
                    future.result()
                    break
                except CancelledError:
                    return  # the service stops: the job goes on at the next start
                except Exception as exc:
                    delay = _RETRY_S[min(attempt, len(_RETRY_S) - 1)]
                    log.warning("batch job %s: frame %d not settled (%s); again in %d s", job_id, seq, exc, delay)
                    time.sleep(delay)
                    attempt += 1


@dataclass(frozen=True)
class StagedFrameRule:
    """Retention: a staged original (not anonymised) is deleted after `max_age` whether or not a
    worker processed it; its frame fails with a clear error and the job finishes."""

    processor: BatchProcessor
    max_age: timedelta
    kind: str = "staged_frame"

    def due(self, session: Session, now: datetime, limit: int) -> list[Due]:
        return [Due(i, f"staged_frame:{i}") for i in StagedFrames(session).stale(now - self.max_age, limit)]

    def delete(self, session: Session, items: list[Due], now: datetime) -> list[str]:
        self.processor.expire(session, [d.id for d in items], self.max_age)
        return []
