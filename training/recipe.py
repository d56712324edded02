"""Per-detector fine-tuning defaults (`datasets/<detector>.train.yaml`), overridable from the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field

from training.paths import taxonomy_dir


class Recipe(BaseModel):
    framework: Literal["ultralytics", "yolov5"] = Field(
        "ultralytics",
        description="ultralytics: anchor-free YOLOv5n-u, COCO backbone+neck; "
        "yolov5: original YOLOv5n with its COCO head rows kept for classes COCO knows",
    )
    arch: str = Field("yolov5nu.yaml", description="Ultralytics model YAML used for COCO or scratch starts")
    imgsz: int = Field(640, ge=32)
    epochs: int = Field(100, ge=1)
    patience: int = Field(20, ge=0, description="Early stopping: epochs without val improvement")
    batch: int = Field(16, ge=1)
    train_args: dict[str, float | int | bool | str] = Field(
        {}, description="Further Ultralytics train arguments: augmentations, optimizer, ..."
    )


def load_recipe(detector: str, folder: Path | None = None) -> Recipe:
    """The detector's recipe, or the generic defaults when it has none."""
    path = taxonomy_dir(folder) / f"{detector}.train.yaml"
    if not path.is_file():
        return Recipe()
    return Recipe.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
