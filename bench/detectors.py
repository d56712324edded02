"""Which detectors to benchmark: the same discovery the service uses, plus their variant files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from service.inference.card import ModelCard
from service.registry.registry import ModelRegistry


@dataclass(frozen=True)
class DetectorSpec:
    name: str
    folder: Path
    card: ModelCard
    variants: dict[str, Path]  # "fp32", "int8" (when the card lists one) -> ONNX file

    @property
    def served_variant(self) -> str:
        return "int8" if self.card.served_file.precision == "int8" and "int8" in self.variants else "fp32"

    @property
    def input_size(self) -> tuple[int, int]:
        return tuple(self.card.input_size)  # type: ignore[return-value]


def _variants(folder: Path, card: ModelCard) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for key, file in card.files.items():
        precision = "int8" if key == "int8" or file.precision == "int8" else "fp32" if key == "fp32" else None
        if precision and precision not in out and (folder / file.path).is_file():
            out[precision] = folder / file.path
    if "fp32" not in out and card.served_file.precision != "int8" and (folder / card.served_file.path).is_file():
        out["fp32"] = folder / card.served_file.path
    return out


def discover(roots: list[Path], only: list[str] | None = None) -> list[DetectorSpec]:
    """Detector folders with a valid card and at least one model file, in the service's order."""
    registry = ModelRegistry.discover(roots)
    specs = []
    for name, entry in registry.entries.items():
        if entry.card is None or (only and name not in only):
            continue
        variants = _variants(entry.folder, entry.card)
        if variants:
            specs.append(DetectorSpec(name, entry.folder, entry.card, variants))
    return specs
