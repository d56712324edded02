"""The `stadtblick` console command: serve, worker, detect, models, db, edge, keys, retention, train."""

from __future__ import annotations

import argparse
import sys

from service.cli import db_cmd, detect_cmd, edge_cmd, keys_cmd, models_cmd, retention_cmd, serve_cmd, worker_cmd


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stadtblick", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve_cmd.add_parser(sub)
    worker_cmd.add_parser(sub)
    detect_cmd.add_parser(sub)
    models_cmd.add_parser(sub)
    db_cmd.add_parser(sub)
    edge_cmd.add_parser(sub)
    keys_cmd.add_parser(sub)
    retention_cmd.add_parser(sub)
    sub.add_parser(
        "train", help="dataset tools, fine-tuning, evaluation, export (needs the [train] extra)", add_help=False
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "train":
        return _train(argv[1:])
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


def _train(argv: list[str]) -> int:
    try:
        from training.cli import main as train_main
    except ImportError as exc:
        print(f"stadtblick train needs the training extra: pip install 'stadtblick[train]' ({exc})", file=sys.stderr)
        return 2
    return train_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
