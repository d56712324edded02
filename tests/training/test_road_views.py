"""The vehicle-view training set: held-out source kept out, road-plane boxes where the potholes land."""

from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from training import road_views as rv
from training.datasets.layout import label_path_for, read_yolo_label


@pytest.fixture(autouse=True)
def _single_threaded_opencv():
    """Render in this process without starting OpenCV's thread pool: builders that fork worker
    processes later in the session (synth_plates, synth_tags) can deadlock in a child that inherits
    a started pool. road_views itself spawns its workers."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    yield
    cv2.setNumThreads(before)


def _dataset(root: Path, names: dict[int, str], rows: list[tuple[str, str, str, list[tuple]]]) -> Path:
    """A YOLO dataset: (stem, split, source, [(cls, x1, y1, x2, y2)]) on 320x240 grey photos with a
    dark ellipse filling every box (the "pothole"), plus manifest.csv."""
    with (root / "manifest.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file_stem", "split", "source", "n_pothole"])
        for stem, split, source, boxes in rows:
            image = np.full((240, 320, 3), 128, np.uint8)
            for _, x1, y1, x2, y2 in boxes:
                centre, axes = ((x1 + x2) // 2, (y1 + y2) // 2), ((x2 - x1) // 2, (y2 - y1) // 2)
                cv2.ellipse(image, centre, axes, 0, 0, 360, (20, 20, 20), -1)
            for sub in ("images", "labels"):
                (root / sub / split).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / "images" / split / f"{stem}.jpg"), image)
            lines = [
                f"{c} {(x1 + x2) / 640:.6f} {(y1 + y2) / 480:.6f} {(x2 - x1) / 320:.6f} {(y2 - y1) / 240:.6f}\n"
                for c, x1, y1, x2, y2 in boxes
            ]
            (root / "labels" / split / f"{stem}.txt").write_text("".join(lines))
            writer.writerow([stem, split, source, sum(b[0] == 0 for b in boxes)])
    (root / "data.yaml").write_text(yaml.safe_dump({"train": "images/train", "val": "images/val", "names": names}))
    return root


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("road_views")
    road = base / "road_damage"
    rows = [(f"web_{i:02d}", "train", "web", [(0, 100, 120, 200, 170)]) for i in range(8)]
    rows += [(f"web_v{i}", "val", "web", [(0, 60, 80, 140, 130)]) for i in range(2)]
    rows += [(f"cam_{i}", split, "cam/dash", [(0, 10, 200, 40, 220)]) for i, split in enumerate(["train", "val"] * 2)]
    _dataset(road.mkdir() or road, {0: "pothole", 1: "crack"}, rows)
    cars = base / "anonymize"
    plates = [(f"car_{i}", "train", "cars", [(1, 140, 150, 180, 165)]) for i in range(4)]
    _dataset(cars.mkdir() or cars, {0: "face", 1: "licence_plate"}, plates)
    return road


def test_camera_geometry() -> None:
    cam = rv.Camera(1024, 576, 500.0, 1.5, math.radians(6))
    assert cam.row_of(1.5 / math.tan(cam.pitch)) == pytest.approx(288, abs=1e-6), "optical axis hits the road"
    assert cam.row_of(1e7) == pytest.approx(cam.horizon, abs=0.1)
    assert cam.row_of(5) > cam.row_of(10) > cam.horizon, "farther is higher up"
    assert cam.pixels_per_metre(5) == pytest.approx(2 * cam.pixels_per_metre(10), rel=0.05)


def test_laid_pothole_box_encloses_the_warped_pothole(sources: Path) -> None:
    """The label is the homography of the ellipse in the box: it must fit the dark pixels drawn."""
    pools = rv.load_pools(sources, [], ("cam/dash",), 0)
    for seed in range(12):
        rng = random.Random(seed)
        cam = rv.random_camera(rng)
        canvas = np.full((cam.rows, cam.width, 3), 128, np.uint8)  # the photo's own grey
        boxes = rv._lay_pothole(canvas, cam, rng, pools, rng.uniform(-1.5, 0.5), rng.uniform(3, 8))
        dark = np.argwhere(canvas.min(2) < 90)
        if not boxes:
            assert len(dark) < 40, "nothing labelled, so nothing big may be drawn"
            continue
        ((x1, y1, x2, y2),) = boxes
        ys, xs = dark[:, 0], dark[:, 1]
        assert abs(xs.min() - x1) <= 3 and abs(xs.max() + 1 - x2) <= 3, (seed, boxes, xs.min(), xs.max())
        assert abs(ys.min() - y1) <= 3 and abs(ys.max() + 1 - y2) <= 3, (seed, boxes, ys.min(), ys.max())


def test_build_holds_out_the_source_and_adds_views_and_negatives(sources: Path, tmp_path: Path) -> None:
    counts = {"view": 6, "negview": 3, "street": 2, "under": 2, "asphalt": 2}
    report = rv.build(sources, tmp_path / "a", [sources.parent / "anonymize"], ("cam/dash",), counts, 7, 2)
    train = sorted((tmp_path / "a" / "images" / "train").iterdir())
    val = sorted((tmp_path / "a" / "images" / "val").iterdir())
    names = [p.name for p in train + val]
    assert not any(n.startswith("cam_") for n in names), "held-out source in neither split"
    assert [p.name for p in val] == ["web_v0.jpg", "web_v1.jpg"]
    assert report.real["train:held_out:cam/dash"] == 2 and report.real["val:held_out:cam/dash"] == 2
    assert sum(n.startswith("web_") for n in names) == 10
    assert report.generated == counts
    for path in train:
        ids, rows = read_yolo_label(path)
        if path.name.startswith("gen_view"):
            assert len(rows) >= 1, "every view carries a labelled pothole"
        elif path.name.startswith("gen_"):
            assert len(rows) == 0, "negatives are empty-label images"
        assert ((rows >= 0) & (rows <= 1)).all() and (ids == 0).all()
    assert yaml.safe_load((tmp_path / "a" / "data.yaml").read_text())["names"] == {0: "pothole", 1: "crack"}
    again = rv.build(sources, tmp_path / "b", [sources.parent / "anonymize"], ("cam/dash",), counts, 7, 1)
    assert again.pothole_boxes == report.pothole_boxes
    assert 0 < report.view_box_aspect["p10"] <= report.view_box_aspect["median"] <= report.view_box_aspect["p90"]
    first = label_path_for(tmp_path / "a" / "images" / "train" / "gen_view_00003.jpg").read_text()
    assert first == label_path_for(tmp_path / "b" / "images" / "train" / "gen_view_00003.jpg").read_text()


def test_unknown_held_out_source_is_refused_before_any_work(sources: Path, tmp_path: Path) -> None:
    with pytest.raises(rv.BuildRequestError, match="jero/dashcam"):
        rv.build(sources, tmp_path / "x", [], ("jero/dashcam",), {}, 0, 1, check_duplicates=6)
    assert not (tmp_path / "x").exists()


def test_check_duplicates_reports_the_held_out_images_compared(sources: Path, tmp_path: Path) -> None:
    report = rv.build(sources, tmp_path / "d", [], ("cam/dash",), {}, 0, 1, check_duplicates=6)
    saved = json.loads((tmp_path / "d" / rv.BUILD_REPORT).read_text())["near_duplicates"]
    assert saved == report.near_duplicates
    assert saved["max_distance"] == 6 and saved["held_out_images"] > 0 and saved["compared_with"] > 0


def test_all_sources_keeps_every_real_photo_for_the_version_to_ship(sources: Path, tmp_path: Path) -> None:
    assert (
        rv.main(
            ["--src", str(sources), "--out", str(tmp_path / "all"), "--all-sources", "--workers", "1"]
            + [f"--{kind}=0" for kind in rv.DEFAULT_COUNTS]
        )
        == 0
    )
    names = {p.name for p in (tmp_path / "all" / "images").rglob("*.jpg")}
    assert sum(n.startswith("cam_") for n in names) == 4 and sum(n.startswith("web_") for n in names) == 10
    assert "No source held out" in (tmp_path / "all" / "data.yaml").read_text()
    assert json.loads((tmp_path / "all" / rv.BUILD_REPORT).read_text())["held_out"] == []


def test_repeat_shows_the_rare_class_more_often_and_refuses_unknown_classes(tmp_path: Path, capsys) -> None:
    root = tmp_path / "crack"
    rows = [("web_p", "train", "web", [(0, 100, 120, 200, 170)]), ("web_c", "train", "web", [(1, 10, 10, 300, 40)])]
    rows += [("web_v", "val", "web", [(1, 10, 10, 300, 40)])]
    _dataset(root.mkdir() or root, {0: "pothole", 1: "crack"}, rows)
    argv = ["--src", str(root), "--out", str(tmp_path / "out"), "--all-sources", "--workers", "1"]
    argv += [f"--{kind}=0" for kind in rv.DEFAULT_COUNTS]
    assert rv.main([*argv, "--repeat", "crack=3"]) == 0
    train = sorted(p.name for p in (tmp_path / "out" / "images" / "train").iterdir())
    assert train == ["rep1_web_c.jpg", "rep2_web_c.jpg", "web_c.jpg", "web_p.jpg"]
    assert sorted(p.name for p in (tmp_path / "out" / "images" / "val").iterdir()) == ["web_v.jpg"], "val unweighted"
    copy = tmp_path / "out" / "labels" / "train" / "rep2_web_c.txt"
    assert copy.read_text() == (root / "labels" / "train" / "web_c.txt").read_text()
    report = json.loads((tmp_path / "out" / rv.BUILD_REPORT).read_text())
    assert report["repeated"] == {"crack": {"times": 3, "images": 1}}
    for bad, says in (("graffiti=2", "['graffiti'] to repeat not in"), ("crack=0", "TIMES >= 1")):
        with pytest.raises(SystemExit):
            rv.main([*argv, "--repeat", bad])
        assert says in capsys.readouterr().err
    assert (tmp_path / "out" / "images" / "train" / "rep2_web_c.jpg").is_file(), "a refused call keeps the last build"


def test_corrupt_share_puts_generated_images_in_street_conditions_and_leaves_the_rest(
    sources: Path, tmp_path: Path
) -> None:
    counts = {"view": 4, "negview": 2, "street": 0, "under": 0, "asphalt": 0}
    anonymize = [sources.parent / "anonymize"]
    plain = rv.build(sources, tmp_path / "plain", anonymize, ("cam/dash",), counts, 3, 1)
    street = rv.build(sources, tmp_path / "street", anonymize, ("cam/dash",), counts, 3, 1, corrupt_share=1.0)
    assert json.loads((tmp_path / "street" / rv.BUILD_REPORT).read_text())["corrupt_share"] == 1.0
    changed = 0
    for image in sorted((tmp_path / "plain" / "images" / "train").iterdir()):
        other = tmp_path / "street" / "images" / "train" / image.name
        same = image.read_bytes() == other.read_bytes()
        assert same != image.name.startswith("gen_"), "every generated image changed, no real photo"
        changed += not same
        rows = label_path_for(other).read_text().splitlines()
        assert len(rows) == len(label_path_for(image).read_text().splitlines()), "boxes moved along, none lost"
    assert changed == 6 and street.pothole_boxes == plain.pothole_boxes
