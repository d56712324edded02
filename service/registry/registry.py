"""The model registry: every `weights/<detector>/` folder with a model card is a detector.

A broken or missing model file disables only that detector, with an error that names the
file; the others keep serving.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from service.inference import OnnxDetector, SessionConfig
from service.inference.card import CARD_FILE, ModelCard, read_card, sha256_file

log = logging.getLogger(__name__)


class ModelUnavailable(RuntimeError):
    """A detector exists but could not be loaded; the message names the file and the cause."""


@dataclass
class RegistryEntry:
    folder: Path
    card: ModelCard | None = None
    detector: OnnxDetector | None = None
    error: str | None = None

    @property
    def ready(self) -> bool:
        return self.detector is not None


@dataclass
class ModelRegistry:
    entries: dict[str, RegistryEntry] = field(default_factory=dict)

    @classmethod
    def discover(cls, roots: list[Path]) -> ModelRegistry:
        """Find detector folders (first root wins on a name clash) without loading sessions."""
        registry = cls()
        for root in roots:
            if not root.is_dir():
                log.warning("weights folder %s does not exist", root)
                continue
            for folder in sorted(p for p in root.iterdir() if (p / CARD_FILE).is_file()):
                entry = _read_entry(folder)
                name = entry.card.name if entry.card else folder.name
                if name in registry.entries:
                    log.warning("detector %s in %s shadowed by %s", name, folder, registry.entries[name].folder)
                    continue
                registry.entries[name] = entry
        return registry

    def load_all(self, config: SessionConfig) -> None:
        for name, entry in self.entries.items():
            if entry.card is None or entry.detector is not None:
                continue
            try:
                entry.detector = _load_detector(entry.folder, entry.card, config)
                log.info("loaded detector %s %s (%s)", name, entry.card.version, entry.detector.layout.value)
            except ModelUnavailable as exc:
                entry.error = str(exc)
                log.error("detector %s unavailable: %s", name, exc)

    def get(self, name: str) -> OnnxDetector:
        """The loaded detector; KeyError when unknown, ModelUnavailable when broken."""
        entry = self.entries[name]
        if entry.detector is None:
            raise ModelUnavailable(entry.error or f"detector {name} is not loaded yet")
        return entry.detector

    def default_names(self) -> list[str]:
        return [
            name for name, e in self.entries.items() if e.ready and e.card is not None and e.card.enabled_by_default
        ]


def _read_entry(folder: Path) -> RegistryEntry:
    try:
        return RegistryEntry(folder=folder, card=read_card(folder))
    except (OSError, ValueError, ValidationError) as exc:
        message = f"{folder / CARD_FILE}: invalid model card: {_first_line(exc)}"
        log.error(message)
        return RegistryEntry(folder=folder, error=message)


def _load_detector(folder: Path, card: ModelCard, config: SessionConfig) -> OnnxDetector:
    path = folder / card.served_file.path
    if not path.is_file():
        raise ModelUnavailable(f"{path}: model file is missing")
    actual = sha256_file(path)
    if actual != card.served_file.sha256:
        raise ModelUnavailable(
            f"{path}: sha256 {actual[:12]}... does not match the model card ({card.served_file.sha256[:12]}...)"
        )
    try:
        return OnnxDetector(path, card, config)
    except Exception as exc:  # ONNX Runtime raises its own (non-exported) exception types
        raise ModelUnavailable(f"{path}: cannot be loaded: {_first_line(exc)}") from exc


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
