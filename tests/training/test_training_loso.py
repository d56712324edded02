"""Leave-one-source-out evaluation: per-source sets, bootstrap intervals, FP rate, card record."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from training_cli import export

from service.inference import Detections, DetectParams
from service.inference.card import read_card
from training.cli import main
from training.datasets.layout import load_yolo_dataset
from training.evaluate import evaluate, open_detector
from training.loso import (
    BUILD_REPORT,
    ImageSet,
    ModelReport,
    _confidence_for_recall,
    _equal_recall,
    _found_size_ratios,
    _PerImage,
    _recall,
    _resamples,
)
from training.metrics import centre_claims, match_centres


def test_centre_matching_claims_each_box_once_and_respects_class() -> None:
    truth = np.array([[0, 0, 100, 100], [20, 20, 40, 40]], np.float32)
    tcls = np.array([0, 0])
    preds = np.array([[25, 25, 35, 35], [0, 0, 60, 60], [10, 10, 50, 50], [200, 200, 210, 210]], np.float32)
    hit = match_centres(preds, np.array([0, 0, 0, 0]), truth, tcls)[:, 0]
    # 1st: centre (30, 30) lies in both, nearest centre is the small box; 2nd: (30, 30) -> the big box;
    # 3rd: (30, 30) again, both claimed; 4th: outside everything
    assert hit.tolist() == [True, True, False, False]
    assert not match_centres(preds[:1], np.array([1]), truth, tcls)[:, 0].any(), "other class"
    assert match_centres(preds[:0], np.zeros(0, int), truth, tcls).shape == (0, 1)


def test_found_boxes_report_their_size_against_the_label() -> None:
    """A box centred on the pothole but half its height: found by its centre, and the report says
    0.5 x 1.0 (a lower-confidence box, below the served threshold, does not count)."""
    truth = np.array([[0, 0, 100, 100]], np.float32)
    boxes = np.array([[0, 25, 100, 75], [0, 0, 100, 100]], np.float32)
    assert centre_claims(boxes, np.zeros(2, int), truth, np.zeros(1, int)).tolist() == [0, -1]
    det = Detections(xyxy=boxes, confidence=np.array([0.9, 0.2], np.float32), class_id=np.zeros(2, np.int64))
    per = _PerImage([], [], [], [det], [truth])
    assert _found_size_ratios(per, thr=0.5, iou=0.45, merge_iou=None) == (0.5, 1.0)
    assert _found_size_ratios(per, thr=0.95, iou=0.45, merge_iou=None) == (None, None)


def _per(tp: list[list[bool]], conf: list[list[float]], labelled: list[int]) -> _PerImage:
    dets = [
        Detections(
            np.tile([[0, 0, 10, 10]], (len(c), 1)).astype(np.float32),
            np.array(c, np.float32),
            np.zeros(len(c), np.int64),
        )
        for c in conf
    ]
    truths = [np.zeros((n, 4), np.float32) for n in labelled]
    return _PerImage([np.array(t, bool) for t in tp], [], [np.array(c) for c in conf], dets, truths)


def test_false_alarms_are_compared_where_both_versions_find_as_much() -> None:
    """The first version finds half the boxes at its served 0.5; the second, more confident
    everywhere, finds half at 0.7, and there its alarm on the empty photo (0.65) is gone."""
    first = _per([[True, False, True], [True]], [[0.9, 0.45, 0.2], [0.6]], [2, 2])
    second = _per([[True, False, True], [True]], [[0.95, 0.8, 0.4], [0.7]], [2, 2])
    assert _recall(first, 0.5) == 0.5
    assert _confidence_for_recall(second, 0.5) == pytest.approx(0.7)
    assert _confidence_for_recall(second, 0.75) == pytest.approx(0.4)
    assert _confidence_for_recall(second, 1.0) is None, "never finds the fourth box"
    empty = {"first": _per([[False]], [[0.55]], [0]), "second": _per([[False]], [[0.65]], [0])}
    sets = [ImageSet("random val", "val", ()), ImageSet("walls", "negatives", ())]
    reports = [ModelReport(n, "1", "fp32", t, 0.45, None, None) for n, t in (("first", 0.5), ("second", 0.6))]
    _equal_recall(
        reports,
        [{"random val": first, "walls": empty["first"]}, {"random val": second, "walls": empty["second"]}],
        sets,
    )
    assert reports[0].at_equal_recall == {"recall": 0.5, "threshold": 0.5, "fp_image_rate": {"walls": 1.0}}
    assert reports[1].at_equal_recall == {"recall": 0.5, "threshold": 0.7, "fp_image_rate": {"walls": 0.0}}


def test_bootstrap_resamples_whole_near_duplicate_groups() -> None:
    groups = [7, 7, 3, 9, 9, 9]
    for r in _resamples(groups, 50, seed=1):
        counts = np.bincount(r, minlength=6)
        assert counts[0] == counts[1] and counts[3] == counts[4] == counts[5], "a group comes whole or not at all"
        assert sum(counts[[0, 2, 3]]) == 3, "as many groups as there are"


def _with_manifest(data_yaml: Path, out: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the shapes dataset whose manifest gives every other image source `odd`."""
    shutil.copytree(data_yaml.parent, out)
    ds = load_yolo_dataset(out / "data.yaml")
    sources = {}
    with (out / "manifest.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file_stem", "split", "source"])
        for split, files in ds.splits.items():
            for i, f in enumerate(files):
                sources[f.stem] = "odd" if i % 2 else "even"
                w.writerow([f.stem, split, sources[f.stem]])
    return out / "data.yaml", sources


def _negatives(root: Path) -> Path:
    """Photos of another dataset, with that dataset's labels: none of them is a square."""
    (root / "images" / "val").mkdir(parents=True)
    (root / "labels" / "val").mkdir(parents=True)
    rng = np.random.default_rng(5)
    for i in range(6):
        image = rng.integers(90, 150, (48, 64, 3), dtype=np.uint8)
        cv2.circle(image, (30, 24), 12, (220, 60, 30), -1)
        cv2.imwrite(str(root / "images" / "val" / f"n{i}.jpg"), image)
        (root / "labels" / "val" / f"n{i}.txt").write_text("0 0.5 0.5 0.3 0.4\n")  # class 0 of THAT dataset
    (root / "data.yaml").write_text(yaml.safe_dump({"train": "images/val", "val": "images/val", "names": ["x"]}))
    return root


@pytest.mark.slow
def test_loso_side_by_side_records_and_calibrates(
    shapes_env, shapes_data: Path, release: Path, undertrained: Path, tmp_path: Path
) -> None:
    data, sources = _with_manifest(shapes_data, tmp_path / "data")
    negatives = _negatives(tmp_path / "walls")
    good = tmp_path / "good"
    shutil.copytree(release, good)
    weak = export(shapes_env, undertrained, shapes_data, "0.8.0", "--no-int8")
    # the good version "was trained" on a road_views-style set that held `odd` out
    (data.parent / BUILD_REPORT).write_text(json.dumps({"held_out": ["odd"]}))
    card = read_card(good)
    assert card.training["data_lineage"][-1] == "scratch", "train finetune records what the weights saw"
    card.training["data_lineage"] = [str(data), "scratch"]
    (good / "model.json").write_text(card.model_dump_json(indent=2))
    out = tmp_path / "report"
    argv = ["loso", str(weak), str(good), "--data", str(data), "--hold-out", "odd", "--cls", "square"]
    argv += ["--negatives", str(negatives), "--bootstrap", "60", "--out", str(out), "--record", "--calibrate"]
    assert main(argv) == 0

    report = json.loads((out / "loso.json").read_text())
    names = [s["name"] for s in report["sets"]]
    assert names == ["random val", "even (val)", "odd (held out, all)", "walls (val, no potholes)"]
    weak_r, good_r = report["models"]
    ds = load_yolo_dataset(data)
    assert good_r["sets"]["odd (held out, all)"]["images"] == sum(v == "odd" for v in sources.values())
    assert good_r["sets"]["even (val)"]["images"] == sum(sources[f.stem] == "even" for f in ds.splits["val"])
    # the same AP50 as `train evaluate` gives for the class on val, through the same core
    direct = evaluate(open_detector(good), data)
    square = next(c for c in direct.classes if c.name == "square")
    assert good_r["sets"]["random val"]["ap50"] == pytest.approx(square.ap50, abs=1e-9)
    lo, hi = good_r["sets"]["random val"]["ap50_ci"]
    assert lo <= square.ap50 <= hi
    delta = report["deltas"]["random val"]["ap50"]
    expected = good_r["sets"]["random val"]["ap50"] - weak_r["sets"]["random val"]["ap50"]
    assert delta["delta"] == pytest.approx(expected, abs=1e-4) and delta["ci"][0] <= delta["ci"][1]
    # false positives on the other dataset: what the service, at the card threshold, returns there
    walls = good_r["sets"]["walls (val, no potholes)"]
    detector = open_detector(good)
    params = DetectParams(conf=detector.card.thresholds.conf, iou=detector.card.thresholds.iou, max_det=300)
    served = []
    for f in sorted((negatives / "images" / "val").iterdir()):
        det = detector.detect(cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB), params)
        served.append(int((det.class_id == 0).sum()))
    assert walls["empty_images"] == 6 and walls["boxes"] == 0, "their labels are not squares"
    assert walls["fp_image_rate"] == pytest.approx(np.mean([n > 0 for n in served]))
    assert walls["fp_per_image"] == pytest.approx(np.mean(served))
    # at equal recall: the first version at its served confidence, the second where it finds as much
    assert weak_r["at_equal_recall"]["threshold"] == weak_r["threshold"]
    assert good_r["at_equal_recall"]["recall"] == weak_r["at_equal_recall"]["recall"]
    assert "at equal recall" in (out / "loso.md").read_text()

    recorded = read_card(good)
    calibrated = good_r["calibrated"]["odd (held out, all)"]
    assert recorded.metrics["by_source"]["held_out_in_training"] is False
    assert recorded.thresholds.conf == pytest.approx(round(calibrated, 3)), "calibrated on the held-out source"
    assert read_card(weak).thresholds.conf == weak_r["threshold"], "its training data is unknown: not calibrated"
    md = (good / "MODEL_CARD.md").read_text()
    assert "Metrics by data source" in md and "odd (held out, all)" in md
    assert "best F1 on the held-out odd (held out, all)" in md


def test_a_fine_tune_has_seen_what_its_start_saw(tmp_path: Path) -> None:
    from service.inference.card import ModelCard
    from training.loso import held_out_in_training
    from training.train_run import RUN_INFO, data_lineage

    held = tmp_path / "held" / "data.yaml"
    plain = tmp_path / "plain" / "data.yaml"
    for d, report in ((held, {"held_out": ["dashcam"]}), (plain, None)):
        d.parent.mkdir()
        if report:
            (d.parent / BUILD_REPORT).write_text(json.dumps(report))
        else:
            (d.parent / "manifest.csv").write_text("file_stem,split,source\n")
    first = tmp_path / "runs" / "first"
    (first / "weights").mkdir(parents=True)
    (first / RUN_INFO).write_text(json.dumps({"data_lineage": data_lineage(held, "coco")}))
    second = tmp_path / "runs" / "second"
    (second / "weights").mkdir(parents=True)
    (second / RUN_INFO).write_text(json.dumps({"data_lineage": data_lineage(plain, "coco")}))

    def seen(lineage: list[str]) -> bool | None:
        card = ModelCard.model_construct(training={"data_lineage": lineage}, training_data={})
        return held_out_in_training(card, ("dashcam",))

    assert data_lineage(held, str(first / "weights" / "last.pt")) == [str(held), str(held), "coco"]
    assert seen(data_lineage(held, str(first / "weights" / "last.pt"))) is False
    assert seen(data_lineage(held, str(second / "weights" / "last.pt"))) is True, "its start saw every source"
    assert seen(data_lineage(held, "work/start/recovered.pt")) is None, "a start without a run record is unknown"
    assert seen(data_lineage(plain, "work/start/recovered.pt")) is True


def test_the_card_says_what_the_version_alarms_on_at_the_compared_version_s_recall() -> None:
    from training.modelcard import _by_source

    score = {"images": 3, "boxes": 0, "empty_images": 3, "fp_image_rate": 0.1, "fp_per_image": 0.2}
    by = {"class": "pothole", "sets": {"walls": score}, "variant": "fp32", "data": "d.yaml", "held_out": ["x"]}
    by |= {"held_out_in_training": True, "bootstrap": 10, "threshold": 0.4}
    assert "equal recall" not in _by_source(by), "recorded before the comparison existed"
    by["at_equal_recall"] = {"recall": 0.709, "threshold": 0.231, "fp_image_rate": {"walls": 0.217, "random val": 0.0}}
    assert "At equal recall (confidence 0.231, where it finds 70.9% of random val's `pothole` boxes" in _by_source(by)
    assert "images with ≥ 1 box: walls 21.7%." in _by_source(by)


@pytest.mark.slow
def test_loso_under_street_conditions_scores_the_same_sets_on_corrupted_pixels(
    shapes_env, shapes_data: Path, release: Path, tmp_path: Path
) -> None:
    from training.compare import corrupted_set

    data, sources = _with_manifest(shapes_data, tmp_path / "data")
    negatives = _negatives(tmp_path / "walls")
    twin = tmp_path / "twin"
    shutil.copytree(release, twin)
    out, work = tmp_path / "report", tmp_path / "work"
    argv = ["loso", str(release), str(twin), "--data", str(data), "--hold-out", "odd", "--cls", "square"]
    argv += ["--negatives", str(negatives), "--bootstrap", "30", "--out", str(out), "--work", str(work)]
    assert main([*argv, "--corruptions", "gaussian_noise,downscale"]) == 0

    clean = json.loads((out / "loso.json").read_text())
    noisy = json.loads((out / "loso-conditions.json").read_text())
    assert list(noisy) == ["gaussian_noise", "downscale"]
    for condition, c in noisy.items():
        assert [s["name"] for s in c["sets"]] == [s["name"] for s in clean["sets"]], condition
        for name, score in c["models"][0]["sets"].items():
            assert score["images"] == clean["models"][0]["sets"][name]["images"], (condition, name)
        assert c["deltas"]["random val"]["centre_ap50"]["delta"] == 0, "the same network twice"
    held_out = sorted((work / "gaussian_noise" / "data" / "images" / "train").iterdir())
    held_out += sorted((work / "gaussian_noise" / "data" / "images" / "val").iterdir())
    assert {p.stem for p in held_out} >= {s for s, src in sources.items() if src == "odd"}
    # the same seeded pixels as `train compare --corruptions` scores: random val's AP50 agrees
    direct = corrupted_set(data, ("val",), "gaussian_noise", tmp_path / "direct")
    square = next(c for c in evaluate(open_detector(release), direct).classes if c.name == "square")
    assert noisy["gaussian_noise"]["models"][0]["sets"]["random val"]["ap50"] == pytest.approx(square.ap50, abs=1e-9)
    assert square.ap50 != clean["models"][0]["sets"]["random val"]["ap50"], "the noise reached the pixels"
    md = (out / "loso-conditions.md").read_text()
    assert "| none | odd (held out, all) |" in md and "| downscale | odd (held out, all) |" in md
    assert "| gaussian_noise | walls (val, no potholes) | 6 |" in md


def test_an_unknown_street_condition_stops_loso_before_any_scoring(tmp_path: Path, capsys) -> None:
    argv = ["loso", str(tmp_path / "none"), "--data", str(tmp_path / "data.yaml"), "--corruptions", "fog"]
    assert main(argv) == 2
    assert "unknown corruptions ['fog']" in capsys.readouterr().out
