"""Service settings from environment variables (prefix STADTBLICK_), with embedded defaults.

The defaults run everything on a laptop: the shipped `weights/` folder, a local data folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

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

    @property
    def weights_dirs(self) -> list[Path]:
        return [Path(p) for p in self.weights_dir.split(os.pathsep) if p.strip()]

    @property
    def workers(self) -> int:
        return self.inference_workers or (os.cpu_count() or 1)

    def image_limits(self) -> ImageLimits:
        return ImageLimits(max_bytes=self.max_upload_bytes, max_pixels=self.max_image_pixels)
