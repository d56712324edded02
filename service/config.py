"""Service settings from environment variables (prefix STADTBLICK_), with embedded defaults.

Plain values only: this module imports nothing of the service, so any layer can read settings;
`service.runtime` builds the service's objects from them.

The defaults run everything on a laptop: the shipped `weights/` folder, a local data folder.
Several replicas share a database (`database_url`) and a frame store (`frame_store`; docs/scaling.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
JPEG_MAX_SIDE = 65_500  # the longest side a JPEG can hold (service.imaging checks the same limit)
ANONYMISE_MARGIN, ANONYMISE_CONF = 0.25, 0.05  # the defaults of service.privacy.AnonymiseConfig
MULTIPART_FRAMING = 64 * 1024  # boundaries and part headers around an uploaded file
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class UnsafeConfiguration(RuntimeError):
    """Settings the service refuses to start with; the message says why and what to do."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STADTBLICK_", extra="ignore")

    weights_dir: str = Field(
        str(REPO_WEIGHTS),
        description=f"Folders holding <detector>/model.onnx + model.json, separated by '{os.pathsep}'",
    )
    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    public_url: str = Field(
        "", description="http(s)://host[:port] that links in answers name (behind a proxy); empty: the bound address"
    )
    port: int = 8000
    intra_op_threads: int = Field(
        0, ge=0, description="ONNX Runtime threads per inference (0: the cores shared out among the workers)"
    )
    inference_workers: int = Field(0, ge=0, description="Concurrent inferences (0: number of cores)")
    max_upload_bytes: int = Field(40 * 1024 * 1024, ge=1)
    max_image_pixels: int = Field(80_000_000, ge=1)
    max_image_side: int = Field(JPEG_MAX_SIDE, ge=1, le=JPEG_MAX_SIDE, description="Longest accepted side, px")
    max_image_aspect_ratio: float = Field(20.0, ge=1, description="Long side / short side accepted at most")

    # --- access control and limits (docs/security.md) ---
    auth: Literal["required", "disabled"] = Field(
        "required", description="'disabled': every request acts as admin; only allowed on a loopback host"
    )
    open_metrics: bool = Field(True, description="/metrics without a key (for a Prometheus in the same network)")
    rate_limit_per_minute: int = Field(600, ge=0, description="Requests per minute per API key (0: unlimited)")
    rate_limit_burst: int = Field(60, ge=1, description="Requests a key may send at once before the rate applies")
    max_queued_inferences: int = Field(
        0, ge=0, description="Uploads waiting for an inference worker before 503 (0: 4 per worker)"
    )
    max_batch_jobs: int = Field(2, ge=1, description="Batch jobs queued or running at once before 503")
    large_image_pixels: int = Field(
        4_000_000, ge=1, description="Larger uploads, like batch frames, never take the last inference worker"
    )

    # --- storage and GIS (docs/gis.md) ---
    database_url: str = Field("", description="SQLAlchemy URL; empty: SQLite file stadtblick.db in data_dir")
    timezone: str = Field("Europe/Berlin", description="Zone of EXIF capture times that carry no UTC offset")
    max_batch_bytes: int = Field(512 * 1024 * 1024, ge=1, description="Upper bound for one batch upload")
    max_batch_frames: int = Field(5000, ge=1)
    staged_frames_max_hours: float = Field(
        24.0, gt=0, description="Staged batch originals (not anonymised) are deleted after this, processed or not"
    )
    worker_concurrency: int = Field(
        0, ge=0, description="Frames a `stadtblick worker` processes at once (0: as many as inference workers)"
    )
    worker_stalled_s: float = Field(
        30.0, gt=0, description="A worker silent this long is presumed dead; its frames go to the other workers"
    )
    camera_height_m: float = Field(1.5, gt=0, description="Camera height above the road")
    camera_pitch_deg: float = Field(10.0, ge=0, lt=90, description="Downward tilt of the optical axis")
    camera_hfov_deg: float = Field(90.0, gt=0, lt=180, description="Horizontal field of view")
    max_projection_m: float = Field(30.0, gt=0, description="Farther ground estimates fall back to the camera")
    dedup_radius_m: float = Field(5.0, gt=0, description="Same-class detections this close are one damage")
    segment_length_m: float = Field(50.0, gt=0, description="Length of the graded road segments")
    road_damage_classes: list[str] = ["pothole", "crack"]
    graffiti_classes: list[str] = ["graffiti"]
    damage_weights: dict[str, float] = Field(
        {"pothole": 3.0, "crack": 1.0}, description="Severity weight per class for the condition grade"
    )
    grade_thresholds: list[float] = Field(
        [0.5, 2.0, 4.0, 8.0], description="Weighted damage per 100 m at which grades 2, 3, 4 and 5 begin"
    )
    map_tile_url: str = Field("", description="Leaflet tile URL template for /ui/map; empty: no base map")
    map_tile_attribution: str = ""

    # --- privacy: anonymisation and retention (docs/privacy.md) ---
    require_anonymisation: bool = Field(
        True, description="Refuse to store images (503) unless a model finds every class in anonymise_classes"
    )
    anonymise_classes: list[str] = Field(["face", "licence_plate"], description="What must be found to store")
    anonymise_sources: list[str] = Field(
        ["anonymize", "centerface"], description="Detectors that anonymise, where installed"
    )
    anonymise_mode: Literal["blur", "pixelate"] = "blur"
    anonymise_margin: float = Field(ANONYMISE_MARGIN, ge=0.0, le=1.0, description="Share of a box added on each side")
    anonymise_conf: float = Field(
        ANONYMISE_CONF, gt=0.0, le=1.0, description="Confidence threshold (low: recall first)"
    )
    anonymise_ellipse_faces: bool = Field(False, description="Obscure faces inside the ellipse of their box only")
    anonymise_persons: bool = Field(False, description="Also obscure whole persons (needs a 'coco' detector)")
    anonymise_tile_min_side: int = Field(1600, ge=1, description="Larger frames are also searched tile by tile")
    retention_frames_days: float = Field(30.0, gt=0, description="Stored frame images are deleted after this age")
    lost_property_detector: str = Field(
        "lost_property", description="Detector describing found items; 'coco' is used when this one is not installed"
    )
    lost_item_retention_days: float = Field(183.0, gt=0, description="retain_until = found_at + this (≈ 6 months)")
    retention_interval_s: float = Field(3600.0, gt=0, description="How often the service deletes expired images")
    frame_store: str = Field(
        "",
        pattern=r"^(s3://[^/]+.*|[^:]*)$",
        description="Where stored photos live: empty (data_dir), a directory all replicas mount, or s3://bucket/prefix",
    )
    frame_store_endpoint: str = Field(
        "", description="S3 endpoint URL, e.g. http://minio:9000 for MinIO; empty: AWS (credentials: AWS_* variables)"
    )
    frame_store_timeout_s: float = Field(10.0, gt=0, description="An S3 request that takes longer fails (503)")

    @property
    def weights_dirs(self) -> list[Path]:
        return [Path(p) for p in self.weights_dir.split(os.pathsep) if p.strip()]

    @property
    def workers(self) -> int:
        return self.inference_workers or (os.cpu_count() or 1)

    @property
    def background_workers(self) -> int:
        """Workers for large images and batch frames: all but one, so small uploads never wait for them."""
        return max(self.workers - 1, 1)

    @property
    def session_threads(self) -> int:
        """Workers x threads = cores: more oversubscribes the CPU. On 2 cores `python -m bench.threads`
        measured 65 img/s for 2 workers x 1 thread, 49 for 2 x 2 threads, 43 for 1 x 2 threads."""
        return self.intra_op_threads or max((os.cpu_count() or 1) // self.workers, 1)

    @property
    def lone_run_threads(self) -> int:
        """All cores for a request that is the only one in flight (unless threads are set by hand).
        `python -m bench.threads --detector anonymize` on 2 cores: lone p50 24.3 -> 18.8 ms, loaded
        69.5 -> 81.8 img/s against 2 workers x 1 thread."""
        return 0 if self.intra_op_threads else os.cpu_count() or 1

    @property
    def inference_capacity(self) -> int:
        """Uploads admitted at once: those running plus those queued (each holds its image in memory)."""
        return self.workers + (self.max_queued_inferences or 4 * self.workers)

    @property
    def max_request_bytes(self) -> int:
        """No request body may be larger, on any route: the largest per-route limit plus multipart framing."""
        return max(self.max_batch_bytes, self.max_upload_bytes) + MULTIPART_FRAMING

    def check_auth_binding(self, host: str) -> None:
        """Refuse to serve without authentication anywhere but on the loopback interface."""
        if self.auth == "disabled" and host not in LOOPBACK_HOSTS:
            raise UnsafeConfiguration(
                f"STADTBLICK_AUTH=disabled is only allowed when the service listens on 127.0.0.1 or localhost, "
                f"not {host!r}: create API keys (stadtblick keys create) or bind to 127.0.0.1"
            )

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'stadtblick.db').resolve()}"
