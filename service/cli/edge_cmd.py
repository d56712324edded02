"""`stadtblick edge`: the vehicle runtime -- run a drive, upload it later, show the outbox."""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import signal
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from service.cli.detect_cmd import load_detectors
from service.config import Settings
from service.edge.drive import DriveRecorder
from service.edge.gps_logs import FollowedNmeaTrack, is_gpx, load_track
from service.edge.outbox import OUTBOX_FILE, Outbox
from service.edge.precision import PRECISIONS, variant_for
from service.edge.track import GpsTrack
from service.edge.tracker import TrackerConfig
from service.edge.uploader import ServerTarget, Uploader
from service.edge.video import (
    DistanceSampler,
    ReadStats,
    TimeSampler,
    VideoClock,
    frame_rate,
    is_live,
    open_capture,
    prefetched,
    read_frames,
)
from service.inference import SessionConfig
from service.privacy.sources import ANONYMIZE, load_anonymiser
from service.registry.registry import ModelRegistry, ModelUnavailable
from service.runtime import anonymise_config, camera_model

log = logging.getLogger(__name__)
RUN_FILE = "run.json"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("edge", help="vehicle runtime: video + GPS in, geotagged events out, uploaded when online")
    actions = p.add_subparsers(dest="edge_command", required=True)

    run_p = actions.add_parser("run", help="analyse a drive (video file, camera or stream) into a drive folder")
    run_p.add_argument("--source", required=True, help="video file, camera index (0) or stream URL (rtsp://...)")
    run_p.add_argument("--gps", type=Path, help="GPS log of the drive: GPX or NMEA (GGA/RMC sentences)")
    run_p.add_argument("--detectors", default="road_damage", help="comma-separated detectors (default road_damage)")
    run_p.add_argument("--out", type=Path, required=True, help="drive folder (created; a re-run resumes it)")
    run_p.add_argument("--every-m", type=float, default=4.0, help="analyse a frame every N metres driven (default 4)")
    run_p.add_argument("--every-seconds", type=float, help="analyse by time instead (default 1 s without --gps)")
    run_p.add_argument(
        "--video-start", type=_aware_time, help="ISO time of the video's first frame (default: first fix)"
    )
    run_p.add_argument("--clock-offset", type=float, default=0.0, help="seconds added to video times to match GPS")
    run_p.add_argument("--precision", choices=PRECISIONS, help="model variant (default: int8 where the card has one)")
    run_p.add_argument(
        "--drive-id", help="drive id on the server (default: kept from an earlier run, else edge-<start>)"
    )
    run_p.add_argument("--min-hits", type=int, default=2, help="sightings an object needs to become an event")
    _server_args(run_p, required=False)
    run_p.add_argument("--drain-timeout", type=float, default=60.0, help="seconds to keep uploading after the video")
    run_p.add_argument("--no-progress", action="store_true", help="no progress bar (logs only)")
    run_p.set_defaults(func=run)

    sync_p = actions.add_parser("sync", help="upload a drive folder's pending events")
    sync_p.add_argument("dir", type=Path)
    _server_args(sync_p, required=True)
    sync_p.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds (default 600)")
    sync_p.add_argument("--retry-failed", action="store_true", help="also resend events the server refused")
    sync_p.set_defaults(func=sync)

    status_p = actions.add_parser("status", help="the drive and its outbox: pending, sent, failed")
    status_p.add_argument("dir", type=Path)
    status_p.set_defaults(func=status)


def _server_args(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument("--server", required=required, help="service URL, e.g. https://stadtblick.example.org")
    p.add_argument(
        "--api-key",
        default=os.environ.get("STADTBLICK_API_KEY"),
        help="sent as 'Authorization: Bearer KEY' (default: $STADTBLICK_API_KEY; keeps it out of `ps`)",
    )


def run(args: argparse.Namespace) -> int:
    _logging()
    err = Console(stderr=True)
    settings = Settings()
    try:
        live = is_live(args.source)
        track = _track(args.gps, live) if args.gps else None
        capture = open_capture(args.source)
        detectors = _detectors(settings, args.detectors, args.precision)
    except (OSError, ValueError, KeyError, ModelUnavailable) as exc:
        err.print(f"[red]error:[/red] {exc}")
        return 2
    anonymize = next((d for d in detectors if d.name == ANONYMIZE), None)
    anonymiser = load_anonymiser(
        {d.name: d for d in detectors},
        anonymise_config(settings),
        settings.anonymise_sources,
        settings.anonymise_persons,
        SessionConfig.from_env(),
    )
    detectors = [d for d in detectors if d.name != ANONYMIZE] or detectors
    start = None if live else (args.video_start or (track.start if track else _now()))
    if not live and args.video_start is None and track is None:
        log.warning("no GPS and no --video-start: event times are processing times")
    clock = VideoClock(start, frame_rate(capture), args.clock_offset)
    stats = ReadStats()
    if args.every_seconds or track is None:
        sampler: DistanceSampler | TimeSampler = TimeSampler(args.every_seconds or 1.0)
    else:
        sampler = DistanceSampler(track, args.every_m, stats)
    out: Path = args.out
    summary = _read_run(out)
    drive_id = args.drive_id or summary.get("drive_id") or f"edge-{(start or _now()):%Y%m%dT%H%M%SZ}"
    summary = {
        "drive_id": drive_id,
        "status": "running",
        "source": args.source,
        "gps": str(args.gps) if args.gps else None,
        "video_start": start.isoformat() if start else None,
        "clock_offset_s": args.clock_offset,
        "sampling": {"every_seconds": sampler.every_s}
        if isinstance(sampler, TimeSampler)
        else {"every_m": args.every_m},
        "detectors": [_describe(d) for d in detectors],
        "anonymiser": _describe(anonymize) if anonymize else None,
        "anonymiser_sources": [s.name for s in anonymiser.sources] if anonymiser else [],
    }
    out.mkdir(parents=True, exist_ok=True)
    _write_run(out, summary)

    uploader = None
    if args.server:
        uploader = Uploader(out, out / OUTBOX_FILE, ServerTarget(args.server, args.api_key)).start()
    recorder = DriveRecorder(
        out,
        drive_id,
        detectors,
        anonymiser,
        camera_model(settings),
        TrackerConfig(min_hits=args.min_hits),
        on_event=uploader.notify if uploader else None,
    )
    stop = _stop_on_sigterm()
    frames = prefetched(read_frames(capture, clock, sampler, stats))
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("frames · {task.fields[analysed]} analysed · {task.fields[events]} events · {task.fields[fps]}"),
        TimeElapsedColumn(),
        console=err,
        disable=args.no_progress or not err.is_terminal,
    )
    try:
        with progress:
            task = progress.add_task(drive_id, total=stats.total, analysed=0, events=0, fps="")

            def advance() -> None:
                s = recorder.stats
                fps = f"{s.fps:.1f} frames/s"
                progress.update(
                    task, completed=stats.grabbed, total=stats.total, analysed=s.analysed, events=s.events, fps=fps
                )

            recorder.run(itertools.takewhile(lambda _: not stop.is_set(), frames), track, advance)
    except KeyboardInterrupt:
        log.warning("interrupted: ending the open tracks")
        recorder.finish()
    finally:
        frames.close()
    s = recorder.stats
    summary.update(
        status="stopped" if stop.is_set() else "finished",
        finished_at=_now().isoformat(),
        frames_read=stats.grabbed,
        frames_analysed=s.analysed,
        frames_outside_gps=stats.skipped_no_gps,
        events=len(recorder.outbox.features(drive_id)),
        elapsed_s=round(s.elapsed_s, 2),
        analysed_fps=round(s.fps, 2),
        video_fps=round(stats.grabbed / max(s.elapsed_s, 1e-9), 1),
    )
    recorder.write_geojson({k: summary[k] for k in ("drive_id", "source", "video_start", "detectors")})
    recorder.close()
    if stats.skipped_no_gps:
        log.warning(
            "%d frames had no GPS position (outside the log's time span): check --video-start, "
            "--clock-offset and the system clock",
            stats.skipped_no_gps,
        )
    if uploader is not None:
        uploader.drain(args.drain_timeout)
    _write_run(out, summary)
    err.print(
        f"{drive_id}: {stats.grabbed} frames read, {s.analysed} analysed ({s.fps:.1f} frames/s), "
        f"{summary['events']} events in {out}"
    )
    _print_outbox(out)
    return 0


def sync(args: argparse.Namespace) -> int:
    _logging()
    path = args.dir / OUTBOX_FILE
    if not path.is_file():
        Console(stderr=True).print(f"[red]error:[/red] no outbox in {args.dir}")
        return 2
    if args.retry_failed:
        outbox = Outbox(path)
        outbox.retry_failed()
        outbox.close()
    uploader = Uploader(args.dir, path, ServerTarget(args.server, args.api_key)).start()
    drained = uploader.drain(args.timeout)
    counts = _print_outbox(args.dir)
    return 0 if drained and not counts["failed"] else 1


def status(args: argparse.Namespace) -> int:
    summary = _read_run(args.dir)
    if not (args.dir / OUTBOX_FILE).is_file():
        Console(stderr=True).print(f"[red]error:[/red] no outbox in {args.dir}")
        return 2
    if summary:
        print(
            f"drive {summary.get('drive_id')}: {summary.get('status')}, {summary.get('frames_analysed', '?')} frames "
            f"analysed, {summary.get('analysed_fps', '?')} frames/s, finished {summary.get('finished_at', '-')}"
        )
    _print_outbox(args.dir)
    return 0


def _print_outbox(drive_dir: Path) -> dict[str, int]:
    outbox = Outbox(drive_dir / OUTBOX_FILE)
    try:
        counts, error = outbox.counts(), outbox.last_error()
    finally:
        outbox.close()
    print(f"outbox: {counts['pending']} pending, {counts['sent']} sent, {counts['failed']} failed")
    if error and (counts["pending"] or counts["failed"]):
        print(f"last error: {error}")
    return counts


def _track(path: Path, live: bool) -> GpsTrack:
    """A live source follows a growing NMEA log (GPX files are only complete once written)."""
    if live and not is_gpx(path):
        return FollowedNmeaTrack(path)
    return load_track(path)


def _detectors(settings: Settings, requested: str, precision: str | None) -> list:
    names = [n.strip() for n in requested.split(",") if n.strip()]
    if ANONYMIZE in ModelRegistry.discover(settings.weights_dirs).entries and ANONYMIZE not in names:
        names.append(ANONYMIZE)
    return load_detectors(settings, ",".join(names), variant_for(precision))


def _describe(detector: Any) -> dict[str, str]:
    card = detector.card
    return {"name": card.name, "version": card.version, "variant": card.serve_variant, "file": card.served_file.path}


def _read_run(out: Path) -> dict[str, Any]:
    try:
        return json.loads((out / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write_run(out: Path, summary: dict[str, Any]) -> None:
    tmp = out / f".{RUN_FILE}.tmp"
    tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out / RUN_FILE)


def _stop_on_sigterm() -> threading.Event:
    """systemd stops the service with SIGTERM: end the drive cleanly (open tracks become events)."""
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


def _aware_time(text: str) -> datetime:
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=ZoneInfo(Settings().timezone))


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
