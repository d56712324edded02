"""`stadtblick models`: list the installed detectors; import third-party YOLOv5 weights."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from service.config import Settings
from service.inference import SessionConfig
from service.registry.registry import ModelRegistry


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list detectors, or import YOLOv5 weights as a detector")
    p.set_defaults(func=list_models)
    msub = p.add_subparsers(dest="models_command")
    ls = msub.add_parser("list", help="list detectors and their status (default)")
    ls.set_defaults(func=list_models)
    imp = msub.add_parser(
        "import-yolov5",
        help="convert a YOLOv5 .pt checkpoint (e.g. ../shared/weights/yolov5n.pt) into an ONNX detector folder",
    )
    imp.add_argument("checkpoint", type=Path)
    imp.add_argument("--name", default="coco", help="detector name (default: coco)")
    imp.add_argument("--out", type=Path, required=True, help="weights folder to create <name>/ in")
    imp.set_defaults(func=import_yolov5)


def list_models(_: argparse.Namespace) -> int:
    settings = Settings()
    registry = ModelRegistry.discover(settings.weights_dirs)
    registry.load_all(SessionConfig(intra_op_threads=1))
    table = Table(title="detectors in " + ", ".join(str(p) for p in settings.weights_dirs))
    for col in ("name", "version", "classes", "default", "status"):
        table.add_column(col)
    for name, entry in registry.entries.items():
        card = entry.card
        status = "[green]ready[/green]" if entry.ready else f"[red]{entry.error}[/red]"
        table.add_row(
            name,
            card.version if card else "?",
            ", ".join(card.class_names) if card else "?",
            "yes" if card and card.enabled_by_default else "no",
            status,
        )
    Console().print(table)
    return 0 if all(e.ready for e in registry.entries.values()) else 1


def import_yolov5(args: argparse.Namespace) -> int:
    try:
        from training.yolov5_import import import_yolov5 as convert
    except ImportError as exc:
        Console(stderr=True).print(
            f"[red]error:[/red] needs the training extra: pip install 'stadtblick[train]' ({exc})"
        )
        return 2
    folder = convert(args.checkpoint, args.name, args.out)
    Console().print(
        f"detector [bold]{args.name}[/bold] written to {folder}; serve it with STADTBLICK_WEIGHTS_DIR={args.out}"
    )
    return 0
