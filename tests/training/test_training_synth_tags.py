"""The synthetic-tag graffiti builder: exact tag boxes, held-out photos never trained on, real splits kept."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.datasets.layout import label_path_for, load_yolo_dataset, read_yolo_label
from training.synth_tags import (
    FONT_PACKAGES,
    Job,
    Wall,
    _skeleton,
    add_printed,
    add_tags,
    find_fonts,
    main,
    make_image,
    read_holdout,
    read_reboxed,
    synthetic_wall,
)


@pytest.fixture(scope="module")
def fonts() -> tuple[str, ...]:
    """The Debian tag fonts; skipped where they are not installed (never in CI, which installs them)."""
    found = find_fonts([Path("/usr/share/fonts")])
    if not found:
        if os.environ.get("CI"):
            raise AssertionError(f"scripts/test.sh installs the tag fonts: apt-get install {FONT_PACKAGES}")
        pytest.skip(f"tag fonts not installed: apt-get install {FONT_PACKAGES}")
    return found


def _photo_set(root: Path, split: str, names: list[str], labelled: set[str]) -> None:
    rng = np.random.default_rng(len(names))
    for name in names:
        image = root / "images" / split / f"{name}.jpg"
        image.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(image), cv2.GaussianBlur(rng.integers(60, 200, (300, 400, 3), dtype=np.uint8), (0, 0), 3))
        label = label_path_for(image)
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("0 0.5 0.5 0.4 0.4\n" if name in labelled else "")


@pytest.mark.parametrize("with_fonts", [False, True], ids=["strokes", "fonts"])
@pytest.mark.parametrize("seed", range(6))
def test_every_visible_stroke_is_inside_a_box_and_every_box_has_paint(
    seed: int, with_fonts: bool, request: pytest.FixtureRequest
) -> None:
    rng = np.random.default_rng(seed)
    wall = Wall(synthetic_wall(rng, "plaster" if seed % 2 else "brick", 640, 480))
    before = wall.image.copy()
    boxes = add_tags(rng, wall, request.getfixturevalue("fonts") if with_fonts else ())
    assert boxes, "no tag fitted on an empty wall"
    changed = np.abs(wall.image.astype(int) - before.astype(int)).max(2) > 60
    inside = np.zeros(changed.shape, bool)
    for x1, y1, x2, y2 in boxes:
        assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 480
        inside[max(0, y1 - 2) : y2 + 2, max(0, x1 - 2) : x2 + 2] = True
        assert changed[y1:y2, x1:x2].any(), f"box {(x1, y1, x2, y2)} has no visible paint"
    assert not (changed & ~inside).any(), "paint outside every box"


def test_about_the_font_share_of_tags_are_names_written_in_a_font(fonts: tuple[str, ...]) -> None:
    by_font = [_skeleton(np.random.default_rng(seed), 48, fonts) for seed in range(20)]
    plain = [_skeleton(np.random.default_rng(seed), 48) for seed in range(20)]
    # A font-written name gets the wider canvas; the others are stroke tags of the same size as without fonts.
    written = [m for m, p in zip(by_font, plain, strict=True) if m.shape != p.shape]
    assert 6 <= len(written) <= 18, "about FONT_SHARE of the tags should be written in a font"
    again = _skeleton(np.random.default_rng(0), 48, fonts)
    assert again.shape == by_font[0].shape and (again == by_font[0]).all(), "same seed and fonts, same tag"
    for mask in written:
        cols = np.nonzero(mask.max(0))[0]
        assert mask.max() == 255 and cols.max() - cols.min() > 48, "a name several letters wide"


def test_builder_refuses_to_run_without_its_fonts_unless_told(tmp_path: Path, capsys) -> None:
    src = tmp_path / "graffiti"
    _photo_set(src, "train", ["neg1"], set())
    _photo_set(src, "val", ["v1"], set())
    argv = ["--src", str(src), "--out", str(tmp_path / "built"), "--positives", "1", "--negatives", "0"]
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--fonts", str(tmp_path / "no-fonts-here"), "--workers", "1"])
    assert exc.value.code == 2 and "fonts-kaushanscript" in capsys.readouterr().err
    assert main([*argv, "--no-fonts", "--workers", "1"]) == 0


def test_printed_signs_change_the_wall_but_are_not_tags() -> None:
    rng = np.random.default_rng(7)
    wall = Wall(synthetic_wall(rng, "plaster", 640, 480))
    before = wall.image.copy()
    add_printed(rng, wall, [])
    assert (wall.image != before).any()


def test_builder_keeps_real_splits_and_never_trains_on_held_out_photos(tmp_path: Path, fonts: tuple[str, ...]) -> None:
    src = tmp_path / "graffiti"
    _photo_set(src, "train", ["t1", "t2", "neg1", "neg2", "held", "heldneg"], {"t1", "t2", "held"})
    _photo_set(src, "val", ["v1", "v2"], {"v1"})
    other = tmp_path / "road_damage"
    _photo_set(other, "train", ["street1", "street2"], set())
    holdout = tmp_path / "images.txt"
    holdout.write_text("# walls\ntrain/held.jpg tags\ntrain/heldneg.jpg clean_facade\n")
    out = tmp_path / "built"
    argv = ["--src", str(src), "--out", str(out), "--holdout", str(holdout), "--positives", "6", "--negatives", "3"]
    assert main([*argv, "--workers", "2", "--fonts", str(Path(fonts[0]).parent)]) == 0

    ds = load_yolo_dataset(out / "data.yaml")
    train = {p.stem for p in ds.splits["train"]}
    assert {"t1", "t2", "neg1", "neg2"} <= train and not {"held", "heldneg"} & train
    assert {p.stem for p in ds.splits["val"]} == {"v1", "v2"}
    assert len(read_yolo_label(out / "images" / "val" / "v1.jpg")[0]) == 1
    synthetic = [p for p in ds.splits["train"] if p.stem.startswith("synth_")]
    assert len(synthetic) == 9
    with (out / "synthetic.csv").open() as f:
        backgrounds = {Path(row["background"]).stem for row in csv.DictReader(f)}
    assert not {"held", "heldneg", "t1", "t2", "v1", "v2"} & backgrounds  # only photos without graffiti
    assert {"street1", "street2"} & backgrounds
    for path in synthetic:
        cls, rows = read_yolo_label(path)
        assert (cls == 0).all() and ((rows >= 0) & (rows <= 1)).all()
        assert len(cls) == 0 if "_neg_" in path.stem else True
    assert sum(len(read_yolo_label(p)[0]) for p in synthetic if "_pos_" in p.stem) >= 6


def test_street_conditions_change_a_share_of_the_images_and_keep_their_boxes_valid(tmp_path: Path) -> None:
    """`--corrupt-share`: the same job drawn plainly and under a street condition; without a share
    the image is exactly what the builder drew before the option existed (same random stream)."""
    for folder in ("plain", "street", "default"):
        (tmp_path / folder / "images" / "train").mkdir(parents=True)
        (tmp_path / folder / "labels" / "train").mkdir(parents=True)
    drawn = {}
    for folder, share in (("plain", 0.0), ("street", 1.0)):
        for seed in range(6):
            job = Job("positive", "brick", seed, f"s{seed}", (), share)
            make_image((job, str(tmp_path / folder)))
            image = tmp_path / folder / "images" / "train" / f"s{seed}.jpg"
            cls, rows = read_yolo_label(image)
            assert (cls == 0).all() and ((rows >= 0) & (rows <= 1)).all()
            drawn[folder, seed] = (cv2.imread(str(image)), len(cls))
    make_image((Job("positive", "brick", 0, "s0", ()), str(tmp_path / "default")))
    assert np.array_equal(cv2.imread(str(tmp_path / "default" / "images" / "train" / "s0.jpg")), drawn["plain", 0][0])
    changed = [
        drawn["plain", s][0].shape != drawn["street", s][0].shape
        or np.abs(drawn["plain", s][0].astype(int) - drawn["street", s][0]).mean() > 2
        for s in range(6)
    ]
    assert all(changed), "every image of share 1 is under some condition"
    assert all(drawn["street", s][1] <= drawn["plain", s][1] for s in range(6)), "boxes move or leave, never appear"
    assert sum(drawn["plain", s][1] for s in range(6)) > 0


def test_the_shipped_walls_list_is_what_the_builder_holds_out() -> None:
    listed = Path(__file__).resolve().parents[2] / "datasets" / "graffiti_walls" / "images.txt"
    lines = [line.split() for line in listed.read_text().splitlines() if line and not line.startswith("#")]
    assert read_holdout(listed) == {Path(path).stem for path, _ in lines}


def test_real_photos_with_coarse_boxes_are_left_out(tmp_path: Path) -> None:
    """A box over 16 % of the frame is coarse at --real-max-box-area 0.1 (one box per painted wall
    teaches the opposite of tag boxes); photos without boxes and val stay."""
    src = tmp_path / "graffiti"
    _photo_set(src, "train", ["coarse1", "coarse2", "neg"], {"coarse1", "coarse2"})  # box 0.4 x 0.4 of the frame
    _photo_set(src, "val", ["v1"], {"v1"})
    argv = ["--src", str(src), "--holdout", str(tmp_path / "none.txt"), "--positives", "1", "--negatives", "1"]
    argv += ["--workers", "1", "--backgrounds", str(src), "--no-fonts"]
    for area, kept in ((0.1, {"neg"}), (0.2, {"neg", "coarse1", "coarse2"})):
        out = tmp_path / str(area)
        assert main([*argv, "--out", str(out), "--real-max-box-area", str(area)]) == 0
        ds = load_yolo_dataset(out / "data.yaml")
        assert {p.stem for p in ds.splits["train"] if not p.stem.startswith("synth_")} == kept
        assert {p.stem for p in ds.splits["val"]} == {"v1"}


def _reboxed(folder: Path, boxes: dict[str, str]) -> Path:
    (folder / "labels" / "train").mkdir(parents=True)
    (folder / "dataset.yaml").write_text("photos: datasets/graffiti/images\nnames: {0: graffiti}\n")
    (folder / "images.txt").write_text("".join(f"train/{stem}.jpg wall\n" for stem in boxes))
    for stem, label in boxes.items():
        (folder / "labels" / "train" / f"{stem}.txt").write_text(label)
    return folder


def test_reboxed_photos_train_with_their_tag_boxes_however_coarse_their_old_label(tmp_path: Path, capsys) -> None:
    src = tmp_path / "graffiti"
    _photo_set(src, "train", ["coarse1", "coarse2", "neg"], {"coarse1", "coarse2"})  # 0.4 x 0.4 boxes
    _photo_set(src, "val", ["v1"], {"v1"})
    tags = "0 0.2 0.2 0.1 0.1\n0 0.7 0.6 0.2 0.1\n"
    reboxed = _reboxed(tmp_path / "reboxed", {"coarse1": tags, "elsewhere": tags})  # one not in this set
    argv = ["--src", str(src), "--holdout", str(tmp_path / "none.txt"), "--positives", "1", "--negatives", "0"]
    argv += ["--workers", "1", "--backgrounds", str(src), "--no-fonts", "--real-max-box-area", "0.1"]
    argv += ["--reboxed", str(reboxed)]

    assert main([*argv, "--out", str(tmp_path / "three"), "--reboxed-repeat", "3"]) == 0
    real = [p for p in load_yolo_dataset(tmp_path / "three" / "data.yaml").splits["train"] if "synth_" not in p.name]
    assert sorted(p.stem for p in real) == ["coarse1", "coarse1_copy1", "coarse1_copy2", "neg"]
    assert "'reboxed_photos': 1" in capsys.readouterr().out
    for path in real:
        assert label_path_for(path).read_text() == ("" if path.stem == "neg" else tags)

    assert main([*argv, "--out", str(tmp_path / "off"), "--reboxed-repeat", "0"]) == 0  # as before: coarse, left out
    real = [p for p in load_yolo_dataset(tmp_path / "off" / "data.yaml").splits["train"] if "synth_" not in p.name]
    assert [p.stem for p in real] == ["neg"]


def test_a_reboxed_photo_that_is_held_out_for_evaluation_stops_the_build(tmp_path: Path) -> None:
    src = tmp_path / "graffiti"
    _photo_set(src, "train", ["wall1"], {"wall1"})
    _photo_set(src, "val", ["v1"], set())
    holdout = tmp_path / "images.txt"
    holdout.write_text("train/wall1.jpg tags\n")
    argv = ["--src", str(src), "--out", str(tmp_path / "out"), "--holdout", str(holdout), "--no-fonts"]
    argv += ["--reboxed", str(_reboxed(tmp_path / "reboxed", {"wall1": "0 0.5 0.5 0.1 0.1\n"}))]
    with pytest.raises(ValueError, match="held out"):
        main([*argv, "--positives", "1", "--negatives", "0", "--workers", "1"])
    with pytest.raises(FileNotFoundError, match="not a listed dataset"):  # a mistyped folder is no silent no-op
        main([*argv, "--reboxed", str(tmp_path / "reboxd"), "--positives", "1", "--negatives", "0", "--workers", "1"])


def test_the_shipped_reboxed_photos_are_train_photos_never_held_out() -> None:
    repo = Path(__file__).resolve().parents[2] / "datasets"
    reboxed = read_reboxed(repo / "graffiti_reboxed")
    assert len(reboxed) >= 50 and not reboxed.keys() & read_holdout(repo / "graffiti_walls" / "images.txt")
    for label in reboxed.values():
        rows = np.array([line.split() for line in label.splitlines()], float)
        assert len(rows) and (rows[:, 0] == 0).all() and ((rows[:, 1:] >= 0) & (rows[:, 1:] <= 1)).all()


def test_the_test_script_installs_the_fonts_the_builder_asks_for() -> None:
    script = (Path(__file__).resolve().parents[2] / "scripts" / "test.sh").read_text()
    (line,) = [line for line in script.splitlines() if line.startswith("FONTS=")]
    assert set(line.split("=", 1)[1].strip('"').split()) == set(FONT_PACKAGES.split())
