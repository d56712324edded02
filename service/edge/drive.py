"""One drive on the vehicle: sampled frames in, tracked and geotagged events out to the drive folder.

Per analysed frame: the pose from the GPS track, every detector once, each box projected onto
the road (the service's flat-ground model, `service.geo.ground_position`), the tracker. Each
finished track becomes an event: its best frame is anonymised and written with a crop, and the
event is queued in the outbox -- which is also where the drive's GeoJSON comes from.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.edge.events import (
    CROPS_DIR,
    FRAMES_DIR,
    GEOJSON_FILE,
    JPEG_QUALITY,
    crop,
    event_id,
    feature,
    upload_fields,
    write_atomic,
    write_geojson,
)
from service.edge.outbox import OUTBOX_FILE, Outbox
from service.edge.track import GpsTrack
from service.edge.tracker import Pose, Sighting, Track, Tracker, TrackerConfig
from service.edge.video import Frame
from service.geo.ground_position import CameraModel, estimate
from service.inference import OnnxDetector
from service.inference.detections import LABEL_DE, LABEL_EN
from service.privacy import Anonymiser
from service.privacy.jpeg import clean_jpeg

log = logging.getLogger(__name__)


@dataclass
class DriveStats:
    analysed: int = 0
    events: int = 0
    started: float = field(default_factory=time.perf_counter)

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    @property
    def fps(self) -> float:
        """Analysed frames per second, decoding and writing included."""
        return self.analysed / max(self.elapsed_s, 1e-9)


def pose_at(track: GpsTrack | None, frame: Frame) -> Pose:
    if track is None:
        return Pose(None, None)
    return Pose(track.position_at(frame.time), track.heading_at(frame.time))


class DriveRecorder:
    def __init__(
        self,
        out_dir: Path,
        drive_id: str,
        detectors: list[OnnxDetector],
        anonymiser: Anonymiser | None,
        camera: CameraModel,
        tracker: TrackerConfig | None = None,
        on_event: Callable[[], None] | None = None,
    ):
        self.out_dir, self.drive_id, self.camera = out_dir, drive_id, camera
        self.detectors = {d.name: d for d in detectors}
        self.anonymiser = anonymiser
        self.tracker = Tracker(tracker or TrackerConfig())
        self.on_event = on_event or (lambda: None)
        self.stats = DriveStats()
        out_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(out_dir / OUTBOX_FILE)
        if anonymiser is None:
            log.warning("no anonymisation model installed: frames and crops are NOT anonymised (docs/privacy.md)")

    def run(self, frames: Iterable[Frame], track: GpsTrack | None, progress: Callable[[], None] | None = None) -> None:
        for frame in frames:
            self.process(frame, pose_at(track, frame))
            if progress is not None:
                progress()
        self.finish()

    def process(self, frame: Frame, pose: Pose) -> None:
        h, w = frame.rgb.shape[:2]
        sightings = []
        for name, detector in self.detectors.items():
            found = detector.detect(frame.rgb)
            columns = zip(
                found.xyxy,
                found.confidence,
                found.class_id,
                found.class_name,
                found.column(LABEL_DE),
                found.column(LABEL_EN),
                strict=True,
            )
            for box, score, cls, class_name, label_de, label_en in columns:
                xyxy = (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
                ground = estimate(self.camera, pose.position, pose.heading_deg, (w, h), xyxy) if pose.position else None
                sightings.append(
                    Sighting(
                        name,
                        int(cls),
                        class_name,
                        (label_de, label_en),
                        xyxy,
                        float(score),
                        ground,
                        frame.index,
                        frame.time,
                        pose,
                        frame.rgb,
                    )
                )
        self.stats.analysed += 1
        for ended in self.tracker.update(sightings, (w, h)):
            self._record(ended)

    def finish(self) -> None:
        """End the open tracks (the video ended or the drive was stopped)."""
        for ended in self.tracker.flush():
            self._record(ended)

    def write_geojson(self, metadata: dict[str, Any] | None = None) -> None:
        meta = {"drive_id": self.drive_id, **(metadata or {})}
        write_geojson(self.out_dir / GEOJSON_FILE, self.outbox.features(self.drive_id), meta)

    def close(self) -> None:
        self.outbox.close()

    def _record(self, track: Track) -> None:
        eid = event_id(self.drive_id, track.id)
        if self.outbox.has(eid):
            return  # recorded by an earlier run of this drive; its files may already be uploaded
        detector = self.detectors[track.best.detector]
        # the whole frame, then the crop from it: a face cut by the crop border is still found
        pixels = track.best.pixels
        frame = self.anonymiser.anonymise(pixels).pixels if self.anonymiser else pixels
        write_atomic(self.out_dir / FRAMES_DIR / f"{eid}.jpg", clean_jpeg(frame, JPEG_QUALITY))
        write_atomic(self.out_dir / CROPS_DIR / f"{eid}.jpg", clean_jpeg(crop(frame, track.best.xyxy), JPEG_QUALITY))
        self.outbox.add(
            eid,
            self.drive_id,
            detector.name,
            f"{FRAMES_DIR}/{eid}.jpg",
            upload_fields(self.drive_id, track),
            feature(eid, self.drive_id, track, detector),
        )
        self.stats.events += 1
        log.info(
            "event %s: %s (%d sightings, confidence %.2f)",
            eid,
            track.best.class_name,
            track.hits,
            track.best.confidence,
        )
        self.on_event()
