"""What `weights/` ships: every detector folder loads with intact files and names no machine's folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.inference.card import read_card, sha256_file
from training.paths import REPO_ROOT, portable

SHIPPED = sorted(p.parent for p in (REPO_ROOT / "weights").glob("*/model.json"))


def test_portable_makes_checkout_paths_relative() -> None:
    text = f"trained on {REPO_ROOT.parent}/shared/x/data.yaml in {REPO_ROOT}/runs/a"
    assert portable(text) == "trained on ../shared/x/data.yaml in runs/a"


@pytest.mark.parametrize("folder", SHIPPED, ids=lambda p: p.name)
def test_shipped_detector_is_intact_and_portable(folder: Path) -> None:
    card = read_card(folder)
    assert card.name == folder.name
    for file in [*card.files.values(), *([card.embedding] if card.embedding else [])]:
        assert sha256_file(folder / file.path) == file.sha256, file.path
    machine = str(REPO_ROOT.parent).encode()
    leaking = [p.name for p in folder.rglob("*") if p.is_file() and machine in p.read_bytes()]
    assert not leaking, f"{folder.name}: {leaking} name {machine.decode()}"


def test_something_is_shipped() -> None:
    assert {p.name for p in SHIPPED} >= {"road_damage", "lost_property"}
