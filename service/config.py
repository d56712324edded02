"""Service settings from environment variables (prefix STADTBLICK_), with embedded defaults.

The defaults run everything on a laptop: the shipped `weights/` folder, a local data folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.gis import GRAFFITI, ROAD_DAMAGE
from service.gis.grading import GradingRules
from service.gis.ground_position import CameraModel
from service.imaging import ImageLimits

REPO_WEIGHTS = Path(__file__).resolve().parent.parent / "weights"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STADTBLICK_", extra="ignore")

    weights_dir: str = Field(
        str(REPO_WEIGHTS),
        description=f"Folders holding <detector>/model.onnx + model.json, separated by '{os.pathsep}'",
    )
    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = 8000
    intra_op_threads: int = Field(0, ge=0, description="ONNX Runtime threads per inference (0: one per core)")
    inference_workers: int = Field(0, ge=0, description="Concurrent inferences (0: number of cores)")
    max_upload_bytes: int = Field(40 * 1024 * 1024, ge=1)
    max_image_pixels: int = Field(80_000_000, ge=1)

    # --- storage and GIS (docs/gis.md) ---
    database_url: str = Field("", description="SQLAlchemy URL; empty: SQLite file stadtblick.db in data_dir")
    timezone: str = Field("Europe/Berlin", description="Zone of EXIF capture times that carry no UTC offset")
    max_batch_bytes: int = Field(512 * 1024 * 1024, ge=1, description="Upper bound for one batch upload")
    max_batch_frames: int = Field(5000, ge=1)
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

    @property
    def weights_dirs(self) -> list[Path]:
        return [Path(p) for p in self.weights_dir.split(os.pathsep) if p.strip()]

    @property
    def workers(self) -> int:
        return self.inference_workers or (os.cpu_count() or 1)

    def image_limits(self) -> ImageLimits:
        return ImageLimits(max_bytes=self.max_upload_bytes, max_pixels=self.max_image_pixels)

    def camera_model(self) -> CameraModel:
        return CameraModel(
            height_m=self.camera_height_m,
            pitch_deg=self.camera_pitch_deg,
            hfov_deg=self.camera_hfov_deg,
            max_distance_m=self.max_projection_m,
        )

    def grading_rules(self) -> GradingRules:
        return GradingRules(
            segment_length_m=self.segment_length_m, weights=self.damage_weights, thresholds=self.grade_thresholds
        )

    def damage_categories(self) -> dict[str, str]:
        """Class name -> the collection its damage records belong to."""
        return {c: GRAFFITI for c in self.graffiti_classes} | {c: ROAD_DAMAGE for c in self.road_damage_classes}

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'stadtblick.db').resolve()}"
