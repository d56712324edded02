"""Where the toolkit finds data that is not part of the repository.

`../shared` is the documented development default; nothing here is an absolute path, so the
same commands work on a laptop, in CI and on a GPU box.
"""

from __future__ import annotations

import os
from pathlib import Path

SHARED_ENV = "STADTBLICK_SHARED"
DEFAULT_SHARED = Path("../shared")
TAXONOMY_ENV = "STADTBLICK_DATASETS_DIR"
REPO_ROOT = Path(__file__).resolve().parents[1]
REPO_DATASETS = REPO_ROOT / "datasets"


def shared_dir(override: str | Path | None = None) -> Path:
    """The shared data folder: CLI argument, else $STADTBLICK_SHARED, else `../shared`."""
    return Path(override or os.environ.get(SHARED_ENV) or DEFAULT_SHARED)


def taxonomy_dir(override: str | Path | None = None) -> Path:
    """Folder with `<detector>.yaml` taxonomies and `<detector>.train.yaml` recipes."""
    return Path(override or os.environ.get(TAXONOMY_ENV) or REPO_DATASETS)


def offline() -> None:
    """Ultralytics must never reach for the network (weights, fonts, hub, telemetry)."""
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.setdefault("MPLBACKEND", "Agg")


def portable(text: str) -> str:
    """`text` with this checkout's absolute paths made relative to the repository root, so model
    cards and ONNX metadata shipped in `weights/` name no machine's folders (`../shared/...`)."""
    return text.replace(f"{REPO_ROOT}/", "").replace(f"{REPO_ROOT.parent}/", "../")
