"""`stadtblick detect PATH...`: the API's detection on local files, for batch work and scripts."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from service.config import Settings
from service.imaging import ImageError
from service.inference import OnnxDetector, SessionConfig
from service.inference.card import ModelCard
from service.pipeline import ParamOverrides, detect_bytes, to_response
from service.registry.registry import ModelRegistry, ModelUnavailable
from service.runtime import image_limits
from service.schemas import DetectResponse

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".heic", ".heif", ".bmp"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="detect objects in image files or folders")
    p.add_argument("paths", nargs="+", type=Path, help="image files or folders (searched recursively)")
    p.add_argument("--detectors", help="comma-separated detector names (default: those enabled by default)")
    p.add_argument("--conf", type=float, help="confidence threshold (default: the model card's)")
    p.add_argument("--iou", type=float, help="NMS IoU threshold")
    p.add_argument("--max-det", type=int, help="max detections per detector")
    p.add_argument(
        "--tiling", action=argparse.BooleanOptionalAction, default=None, help="sliced inference (default: per card)"
    )
    p.add_argument("--jsonl", action="store_true", help="print one JSON object per image (API response shape)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    settings = Settings()
    try:
        detectors = load_detectors(settings, args.detectors)
    except (KeyError, ModelUnavailable) as exc:
        err.print(f"[red]error:[/red] {exc}")
        return 2
    files = list(expand_paths(args.paths))
    if not files:
        err.print("[red]error:[/red] no image files found")
        return 2
    overrides = ParamOverrides(conf=args.conf, iou=args.iou, max_det=args.max_det, tiling=args.tiling)
    failures = 0
    with Progress(console=err, transient=True, disable=len(files) < 2) as progress:
        task = progress.add_task("detecting", total=len(files))
        for path in files:
            failures += not _detect_one(path, detectors, overrides, settings, args.jsonl, err)
            progress.advance(task)
    return 1 if failures else 0


def _detect_one(
    path: Path,
    detectors: list[OnnxDetector],
    overrides: ParamOverrides,
    settings: Settings,
    jsonl: bool,
    err: Console,
) -> bool:
    start = time.perf_counter()
    try:
        data = path.read_bytes()
        run = detect_bytes(data, detectors, overrides, image_limits(settings))
    except (OSError, ImageError) as exc:
        code = getattr(exc, "code", "read_error")
        if jsonl:
            print(json.dumps({"source": str(path), "error": {"code": code, "message": str(exc)}}), flush=True)
        err.print(f"[red]{path}[/red]: {exc}")
        return False
    response = to_response(run, (time.perf_counter() - start) * 1000)
    if jsonl:
        print(json.dumps({"source": str(path), **response.model_dump(mode="json", by_alias=True)}), flush=True)
    else:
        _print_table(path, response)
    return True


def load_detectors(
    settings: Settings, requested: str | None, variant: Callable[[ModelCard], str] | None = None
) -> list[OnnxDetector]:
    """Load only the detectors this run needs (the CLI starts fast with many installed);
    `variant` picks the model file per card instead of its `serve_variant` (the vehicle: INT8)."""
    registry = ModelRegistry.discover(settings.weights_dirs)
    names = [n.strip() for n in requested.split(",") if n.strip()] if requested else None
    if names:
        unknown = [n for n in names if n not in registry.entries]
        if unknown:
            raise KeyError(f"unknown detector(s): {', '.join(unknown)}; known: {', '.join(registry.entries)}")
        registry.entries = {n: registry.entries[n] for n in names}
    if variant is not None:
        for entry in registry.entries.values():
            if entry.card is not None:
                entry.card = entry.card.model_copy(update={"serve_variant": variant(entry.card)})
    registry.load_all(SessionConfig(intra_op_threads=settings.intra_op_threads))  # one image at a time: all cores
    names = names or registry.default_names()
    if not names:
        raise ModelUnavailable(f"no detector found in {', '.join(map(str, settings.weights_dirs))}")
    return [registry.get(n) for n in names]


def expand_paths(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            yield path


def _print_table(path: Path, response: DetectResponse) -> None:
    table = Table(title=f"{path} ({response.image.width}x{response.image.height})")
    for col in ("detector", "class", "confidence", "x1", "y1", "x2", "y2"):
        table.add_column(col)
    for d in response.detections:
        b = d.bbox
        table.add_row(d.detector, d.class_name, f"{d.confidence:.3f}", *(f"{v:.0f}" for v in (b.x1, b.y1, b.x2, b.y2)))
    Console().print(table)
