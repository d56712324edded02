"""The model card (`model.json`): what a detector is, what it was trained on, how well it does.

One schema serves the service (which reads it to load and describe a detector) and the
training package (which writes it when exporting and publishing a model version).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.inference.tiling import TilingConfig

CARD_FILE = "model.json"


class ClassLabel(BaseModel):
    id: int = Field(ge=0)
    name: str = Field(min_length=1, description="Stable machine name, e.g. 'pothole'")
    label_de: str
    label_en: str


class Thresholds(BaseModel):
    conf: float = Field(0.25, ge=0.0, le=1.0)
    iou: float = Field(0.45, ge=0.0, le=1.0)
    max_det: int = Field(300, ge=1, le=10_000)
    merge_iou: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="Boxes of one class overlapping more than this are one object, merged into their "
        "score-weighted mean (a graph that sees the image several times, e.g. mirrored); none: plain NMS",
    )


class ModelFile(BaseModel):
    path: str = Field(description="File name inside the detector folder")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    precision: str = Field("fp32", description="fp32 or int8")


class ModelCard(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")
    version: str
    task: str = "detect"
    description: str = ""
    classes: list[ClassLabel]
    input_size: tuple[int, int] = Field(description="Model input (height, width) in pixels")
    output_layout: str | None = Field(None, description="yolov8, yolov5 or end2end; inferred when absent")
    thresholds: Thresholds = Thresholds()
    enabled_by_default: bool = True
    files: dict[str, ModelFile] = Field(description="Variants by name, e.g. fp32 and int8")
    serve_variant: str = "fp32"
    embedding: ModelFile | None = Field(
        None, description="Image-embedding model cut from this detector (lost-property matching); null: none"
    )
    tiling: TilingConfig | None = Field(None, description="Tile frames this large by default; null: never")
    training_data: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    intended_use: str = ""
    limitations: str = ""
    license: str = ""
    created: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> ModelCard:
        ids = [c.id for c in self.classes]
        if ids != list(range(len(ids))):
            raise ValueError(f"class ids must be 0..{len(ids) - 1} in order, got {ids}")
        if self.serve_variant not in self.files:
            raise ValueError(f"serve_variant {self.serve_variant!r} is not one of files {sorted(self.files)}")
        return self

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def served_file(self) -> ModelFile:
        return self.files[self.serve_variant]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_card(folder: Path) -> ModelCard:
    return ModelCard.model_validate_json((folder / CARD_FILE).read_text(encoding="utf-8"))


def write_card(folder: Path, card: ModelCard) -> Path:
    """Write `model.json` atomically (write, then rename) so a reader never sees half a card."""
    path = folder / CARD_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(card.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n", "utf-8")
    tmp.replace(path)
    return path
