"""Running `stadtblick train` in tests, as a user would on the command line."""

from __future__ import annotations

from pathlib import Path

from training.cli import main


def export(env: dict[str, Path], weights: Path, data: Path, version: str, *extra: str) -> Path:
    out = env["root"] / "releases" / version
    argv = [
        "export",
        "--weights",
        str(weights),
        "--data",
        str(data),
        "--detector",
        "shapes",
        "--out",
        str(out),
        "--version",
        version,
        "--taxonomy-dir",
        str(env["taxonomy"]),
        "--calib-images",
        "16",
        *extra,
    ]
    assert main(argv) == 0
    return out
