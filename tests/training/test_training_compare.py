"""`stadtblick train compare` on a listed evaluation set, with the shipped graffiti detector."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from service.inference.card import read_card
from training.cli import main
from training.evaluate import open_detector
from training.synth_tags import Wall, add_tags, synthetic_wall

GRAFFITI = Path(__file__).resolve().parents[2] / "weights" / "graffiti"
GROUPS = ["tags", "tags", "tags", "clean_facade", "clean_facade", "poster", "sibling"]


@pytest.fixture()
def listed(tmp_path: Path) -> tuple[Path, Path, dict[str, tuple[str, list]]]:
    """A shared folder with painted and plain walls, and a listed set naming them by group."""
    photos = tmp_path / "shared" / "datasets" / "walls" / "images"
    rng = np.random.default_rng(3)
    folder = tmp_path / "walls_eval"
    (folder / "labels" / "train").mkdir(parents=True)
    made: dict[str, tuple[str, list]] = {}
    lines = ["# test set"]
    for i, group in enumerate(GROUPS):
        wall = Wall(synthetic_wall(rng, "brick" if i % 2 else "plaster", 640, 480))
        boxes = add_tags(rng, wall) if group == "tags" else []
        name = f"wall{i}.jpg"
        (photos / "train").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(photos / "train" / name), cv2.cvtColor(wall.image, cv2.COLOR_RGB2BGR))
        rows = [f"0 {(a + c) / 1280} {(b + d) / 960} {(c - a) / 640} {(d - b) / 480}" for a, b, c, d in boxes]
        if rows:
            (folder / "labels" / "train" / f"wall{i}.txt").write_text("\n".join(rows) + "\n")
        lines.append(f"train/{name} {group}")
        made[name] = (group, boxes)
    (folder / "images.txt").write_text("\n".join(lines) + "\n")
    (folder / "dataset.yaml").write_text(
        "photos: datasets/walls/images\nnames: {0: graffiti}\nnot_scored: [sibling]\n"
        "pooled:\n  plain walls and posters: [clean_facade, poster]\n"
    )
    return folder, tmp_path / "shared", made


def test_compare_counts_false_alarms_per_group_as_the_service_sees_them(listed, tmp_path: Path) -> None:
    folder, shared, made = listed
    out = tmp_path / "report.md"
    argv = ["compare", str(GRAFFITI), "--data", str(folder), "--shared", str(shared), "--work", str(tmp_path / "work")]
    assert main([*argv, "--out", str(out)]) == 0

    data = tmp_path / "work" / "walls_eval"
    assert sorted(p.name for p in (data / "images" / "val").iterdir()) == [f"wall{i}.jpg" for i in range(6)]
    detector, conf = open_detector(GRAFFITI), read_card(GRAFFITI).thresholds.conf
    hits: dict[str, list[bool]] = {}
    for name, (group, _) in made.items():
        if group in ("tags", "sibling"):
            continue
        image = cv2.cvtColor(cv2.imread(str(data / "images" / "val" / name)), cv2.COLOR_BGR2RGB)
        hits.setdefault(group, []).append(bool((detector.detect(image).confidence >= conf).any()))
    report = out.read_text()
    boxes = sum(len(b) for g, b in made.values() if g == "tags")
    assert f"| walls_eval | AP50 (6 images, {boxes} boxes) |" in report
    for group, found in hits.items():
        assert f"| false alarms: {group} ({len(found)}) | {sum(found)} ({sum(found) / len(found):.0%}) |" in report
    pooled = hits["clean_facade"] + hits["poster"]
    assert f"| false alarms: plain walls and posters (3) | {sum(pooled)} ({sum(pooled) / 3:.0%}) |" in report


def test_compare_refuses_a_listed_set_whose_photos_are_missing(listed, tmp_path: Path, capsys) -> None:
    folder, shared, _ = listed
    (shared / "datasets" / "walls" / "images" / "train" / "wall0.jpg").unlink()
    argv = ["compare", str(GRAFFITI), "--data", str(folder), "--shared", str(shared), "--work", str(tmp_path / "w")]
    assert main(argv) == 2
    assert "train/wall0.jpg" in capsys.readouterr().out


def test_compare_refuses_a_malformed_image_list(listed, tmp_path: Path, capsys) -> None:
    folder, shared, _ = listed
    (folder / "images.txt").write_text("train/wall0.jpg\n")
    argv = ["compare", str(GRAFFITI), "--data", str(folder), "--shared", str(shared), "--work", str(tmp_path / "w")]
    assert main(argv) == 2
    assert "expected '<image path> <group>'" in capsys.readouterr().out


def test_bootstrap_pairs_the_same_images_for_each_version(listed, tmp_path: Path) -> None:
    """A copy of a version scores exactly the same on every resample: the difference is 0 to 0 and
    never above 0. Without --bootstrap there is no such row."""
    import shutil

    folder, shared, _ = listed
    copy = tmp_path / "copy" / "graffiti"
    shutil.copytree(GRAFFITI, copy)
    argv = ["compare", str(GRAFFITI), str(copy), "--data", str(folder), "--shared", str(shared)]
    argv += ["--work", str(tmp_path / "work")]
    assert main([*argv, "--out", str(tmp_path / "plain.md")]) == 0
    assert "minus the first" not in (tmp_path / "plain.md").read_text()
    assert main([*argv, "--bootstrap", "50", "--out", str(tmp_path / "resampled.md")]) == 0
    row = next(line for line in (tmp_path / "resampled.md").read_text().splitlines() if "minus the first" in line)
    assert row.endswith("| – | +0.000 to +0.000 (100.0%) |")


def test_found_by_size_counts_labelled_boxes_per_coco_bin_at_the_threshold() -> None:
    from service.inference.detections import Detections
    from training.compare import found_by_size
    from training.evaluate import ImageResult

    truth = np.array([[0, 0, 20, 20], [100, 100, 150, 150], [200, 200, 400, 400], [0, 300, 30, 310]], np.float32)
    det = Detections(
        xyxy=np.array([[1, 1, 20, 20], [100, 100, 150, 150], [210, 210, 400, 400]], np.float32),
        confidence=np.array([0.9, 0.2, 0.8], np.float32),  # the medium box only below the threshold
        class_id=np.array([0, 0, 1]),  # the large box found with the wrong class
    )
    result = ImageResult(Path("a.jpg"), det, truth, np.zeros(4, np.int64), 0.0)
    empty = ImageResult(Path("b.jpg"), Detections(), np.zeros((0, 4), np.float32), np.zeros(0, np.int64), 0.0)
    assert found_by_size([result, empty], 0.5) == {"small": (1, 2), "medium": (0, 1), "large": (0, 1)}
    assert found_by_size([result], 0.1) == {"small": (1, 2), "medium": (1, 1), "large": (0, 1)}


def test_street_conditions_are_scored_as_sets_of_their_own_with_the_boxes_moved(listed, tmp_path: Path) -> None:
    folder, shared, made = listed
    out, work = tmp_path / "report.md", tmp_path / "work"
    argv = ["compare", str(GRAFFITI), "--data", str(folder), "--shared", str(shared), "--work", str(work)]
    assert main([*argv, "--corruptions", "gaussian_noise,rotate", "--out", str(out)]) == 0

    report = out.read_text()
    boxes = sum(len(b) for g, b in made.values() if g == "tags")
    for name in ("walls_eval", "walls_eval-gaussian_noise", "walls_eval-rotate"):
        assert f"| {name} | false alarms: plain walls and posters (3) |" in report
    assert f"| walls_eval-gaussian_noise | AP50 (6 images, {boxes} boxes) |" in report
    clean, noisy, tilted = (
        work / "walls_eval",
        work / "conditions" / "walls_eval-gaussian_noise",
        work / "conditions" / "walls_eval-rotate",
    )
    for i in range(6):
        label = f"labels/val/wall{i}.txt"
        before = (clean / label).read_text().split() if (clean / label).is_file() else []
        assert np.allclose(np.float64((noisy / label).read_text().split() or [0]), np.float64(before or [0]), atol=1e-5)
        image = cv2.imread(str(noisy / "images" / "val" / f"wall{i}.png"))
        assert image.shape == (480, 640, 3)
        assert not np.array_equal(image, cv2.imread(str(clean / "images" / "val" / f"wall{i}.jpg")))
    tags = [i for i in range(6) if made[f"wall{i}.jpg"][0] == "tags"]
    moved = [
        (tilted / f"labels/val/wall{i}.txt").read_text() != (clean / f"labels/val/wall{i}.txt").read_text()
        for i in tags
    ]
    assert all(moved)
    # the same pixels on every run, so conditions compare across versions and sessions
    first = (noisy / "images" / "val" / "wall0.png").read_bytes()
    assert main([*argv, "--corruptions", "gaussian_noise"]) == 0
    assert (noisy / "images" / "val" / "wall0.png").read_bytes() == first


def test_an_unknown_street_condition_is_refused(listed, tmp_path: Path, capsys) -> None:
    folder, shared, _ = listed
    argv = ["compare", str(GRAFFITI), "--data", str(folder), "--shared", str(shared), "--work", str(tmp_path / "w")]
    assert main([*argv, "--corruptions", "fog"]) == 2
    assert "unknown corruptions ['fog']" in capsys.readouterr().out
