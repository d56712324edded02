"""Composing the untouched COCO model with a specialised one, and comparing a candidate with the
COCO base: the base's classes come out of the composed graph as the base detects them, and
`publish` refuses a candidate below the base on its COCO classes."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import constant_model, need, write_detector

from service.inference import DetectParams, OnnxDetector
from service.inference.card import read_card

SHARED = Path(os.environ.get("STADTBLICK_SHARED", "../shared"))
YOLOV5_PT = SHARED / "weights" / "yolov5n.pt"
BUS = SHARED / "samples" / "bus.jpg"
ZIDANE = SHARED / "samples" / "zidane.jpg"
has_base = pytest.mark.skipif(not YOLOV5_PT.is_file(), reason=f"{YOLOV5_PT} not present (set STADTBLICK_SHARED)")


def test_each_branch_answers_only_for_its_classes(tmp_path: Path) -> None:
    need("onnx")
    import onnxruntime as ort

    from training.compose import Branch, compose

    # branch a: 3 classes, answers target 0 with its column 2 and target 1 with its column 0
    a = np.array([[100, 50, 20, 10, 0.9, 0.8, 0.7, 0.6]], np.float32)
    # branch b: 2 classes at half the input size, answers target 2 with its column 1 when it
    # scores (objectness x class) at least 0.05
    b = np.array([[40, 30, 10, 8, 0.5, 0.4, 0.3], [10, 10, 4, 4, 0.2, 0.9, 0.1]], np.float32)
    model = compose(
        [
            Branch("a", constant_model(a, 64), {0: 2, 1: 0}),
            Branch("b", constant_model(b, 32), {2: 1}, min_score=0.05),
        ],
        3,
        64,
    )
    path = tmp_path / "composed.onnx"
    path.write_bytes(model.SerializeToString())
    (out,) = ort.InferenceSession(str(path)).run(None, {"images": np.zeros((1, 3, 64, 64), np.float32)})
    expected = np.array(
        [
            [100, 50, 20, 10, 0.9, 0.6, 0.8, 0.0],  # a's column 2 -> target 0, column 0 -> target 1, no target 2
            [80, 60, 20, 16, 0.5, 0.0, 0.0, 0.3],  # b: boxes x2 (32 -> 64 px), only its column 1 -> target 2
            [20, 20, 8, 8, 0.2, 0.0, 0.0, 0.0],  # 0.2 x 0.1 < 0.05
        ],
        np.float32,
    )
    np.testing.assert_allclose(out[0], expected, rtol=1e-6)


def test_an_anchor_free_branch_joins_with_objectness_one_and_its_scores_scaled(tmp_path: Path) -> None:
    need("onnx")
    import onnxruntime as ort

    from training.compose import Branch, compose

    # a whole-wall model at half the input size (YOLOv8 layout: (1, 4 + nc, N), rows as columns)
    # and a tag-level one whose scores are halved
    coarse = np.array([[20, 16, 30, 24, 0.8]], np.float32).T
    tags = np.array([[10, 12, 4, 2, 0.9], [50, 40, 6, 6, 0.3]], np.float32).T
    model = compose(
        [
            Branch("coarse", constant_model(coarse, 32), {0: 0}, layout="yolov8"),
            Branch("tags", constant_model(tags, 64), {0: 0}, layout="yolov8", score_scale=0.5),
        ],
        1,
        64,
    )
    path = tmp_path / "composed.onnx"
    path.write_bytes(model.SerializeToString())
    (out,) = ort.InferenceSession(str(path)).run(None, {"images": np.zeros((1, 3, 64, 64), np.float32)})
    expected = np.array([[40, 32, 60, 48, 1.0, 0.8], [10, 12, 4, 2, 1.0, 0.45], [50, 40, 6, 6, 1.0, 0.15]], np.float32)
    np.testing.assert_allclose(out[0], expected, rtol=1e-6)


def test_a_score_knee_serves_the_branch_s_confident_boxes_at_the_served_confidence(tmp_path: Path) -> None:
    """Raw 0.6 is served at 0.387, raw 1 at the scale 0.5; below the knee it falls linearly to 0."""
    need("onnx")
    import onnxruntime as ort

    from training.compose import Branch, compose

    raw = np.array([0.0, 0.3, 0.6, 0.9, 1.0], np.float32)
    tags = np.stack([np.full(5, 10.0), np.full(5, 12.0), np.full(5, 4.0), np.full(5, 2.0), raw])
    model = compose(
        [Branch("tags", constant_model(tags, 64), {0: 0}, layout="yolov8", score_scale=0.5, score_knee=(0.6, 0.387))],
        1,
        64,
    )
    (tmp_path / "k.onnx").write_bytes(model.SerializeToString())
    (out,) = ort.InferenceSession(str(tmp_path / "k.onnx")).run(None, {"images": np.zeros((1, 3, 64, 64), np.float32)})
    served = [0.0, 0.3 * 0.387 / 0.6, 0.387, 0.387 + 0.3 * (0.5 - 0.387) / 0.4, 0.5]
    np.testing.assert_allclose(out[0, :, 5], served, atol=1e-6)
    np.testing.assert_allclose(out[0, :, :5], [[10, 12, 4, 2, 1]] * 5)  # boxes and objectness untouched


@pytest.mark.parametrize(
    ("knee", "scale", "message"),
    [((0.6, 0.6), 0.5, "served <= 0.5"), ((1.0, 0.3), 0.5, "0 < raw < 1"), ((0.2, 0.1), 0.9, "bends upwards")],
)
def test_a_knee_that_is_not_a_downward_bend_below_the_scale_is_refused(knee, scale, message) -> None:
    from training.compose import knee_lines

    with pytest.raises(ValueError, match=message):
        knee_lines(knee, scale)


def test_a_card_with_a_merge_iou_serves_one_box_per_object_seen_twice(tmp_path: Path) -> None:
    need("onnx")
    from service.inference.card import Thresholds
    from training.compose import Branch, compose

    # the same object from two branches (e.g. plain and mirrored): IoU 0.6, both above NMS IoU 0.7's reach
    seen = np.array([[32, 32, 20, 20, 0.9, 0.9], [32, 28, 20, 12, 0.6, 0.9]], np.float32)
    model = compose(
        [Branch("a", constant_model(seen[:1], 64), {0: 0}), Branch("b", constant_model(seen[1:], 64), {0: 0})], 1, 64
    )
    (tmp_path / "m.onnx").write_bytes(model.SerializeToString())
    params = DetectParams(conf=0.25, iou=0.7, max_det=300)
    image = np.zeros((64, 64, 3), np.uint8)
    for merge_iou, boxes in ((None, 2), (0.5, 1)):
        thresholds = Thresholds(merge_iou=merge_iou)
        folder = write_detector(
            tmp_path / str(merge_iou),
            tmp_path / "m.onnx",
            "d",
            ["thing"],
            (64, 64),
            thresholds=thresholds,
            output_layout="yolov5",
        )
        found = _detector(folder).detect(image, params)
        assert len(found) == boxes
    # boxes (22, 22, 42, 42) scoring 0.81 and (22, 22, 42, 34) scoring 0.54: their score-weighted mean
    np.testing.assert_allclose(found.xyxy[0], [22, 22, 42, (0.81 * 42 + 0.54 * 34) / 1.35], atol=1e-3)
    assert found.confidence[0] == pytest.approx(0.81)


def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def _composed_folder(root: Path, names: list[str], answers: set[str] | None = None, flip: bool = False) -> Path:
    """`root/finder/`: the COCO base composed onto `names`, answering for `answers` (default: all it knows)."""
    from training.compose import Branch, coco_branch, compose

    branch = coco_branch(names, 640, SHARED, flip)
    if answers is not None:
        branch = Branch(branch.name, branch.model, {t: c for t, c in branch.classes.items() if names[t] in answers})
    root.mkdir(parents=True, exist_ok=True)
    model = root / "composed.onnx"
    model.write_bytes(compose([branch], len(names), 640).SerializeToString())
    return write_detector(root, model, "finder", names, (640, 640), output_layout="yolov5")


def _detector(folder: Path) -> OnnxDetector:
    return OnnxDetector(folder / "model.onnx", read_card(folder))


PARAMS = DetectParams(conf=0.25, iou=0.45, max_det=300)


@pytest.mark.slow
@pytest.mark.shared
@has_base
def test_base_classes_come_out_as_the_imported_base_detects_them(tmp_path: Path) -> None:
    need("yolov5")
    from training.yolov5_import import import_yolov5

    base = _detector(import_yolov5(YOLOV5_PT, "coco", tmp_path / "weights"))
    candidate = _detector(_composed_folder(tmp_path, ["wallet", "person", "bus"]))
    for photo in (BUS, ZIDANE):
        want, got = base.detect(_rgb(photo), PARAMS), candidate.detect(_rgb(photo), PARAMS)
        keep = np.isin(want.class_id, [0, 5])  # COCO person, bus
        assert len(got) == int(keep.sum()) > 0
        np.testing.assert_allclose(got.xyxy, want.xyxy[keep], atol=1e-3)
        np.testing.assert_allclose(got.confidence, want.confidence[keep], atol=1e-5)
        assert list(got.class_id) == [{0: 1, 5: 2}[int(c)] for c in want.class_id[keep]]


@pytest.mark.slow
@pytest.mark.shared
@has_base
def test_a_mirrored_branch_reports_boxes_in_the_unmirrored_image(tmp_path: Path) -> None:
    need("yolov5")
    names = ["person", "bus"]
    plain = _detector(_composed_folder(tmp_path / "plain", names))
    mirrored = _detector(_composed_folder(tmp_path / "mirrored", names, flip=True))
    image = _rgb(BUS)
    want = plain.detect(np.ascontiguousarray(image[:, ::-1]), PARAMS)
    got = mirrored.detect(image, PARAMS)
    width = image.shape[1]
    assert len(got) == len(want) > 0
    np.testing.assert_allclose(got.xyxy[:, [2, 1, 0, 3]] * [-1, 1, -1, 1] + [width, 0, width, 0], want.xyxy, atol=0.5)
    assert list(got.class_id) == list(want.class_id)


@pytest.mark.slow
@pytest.mark.shared
@has_base
def test_extra_views_can_leave_shared_classes_to_the_specialist_and_the_base_keeps_plain_nms(tmp_path: Path) -> None:
    need("yolov5")
    from service.inference.card import Thresholds
    from training.baseline import coco_baseline
    from training.compose import coco_branch

    names = ["person", "bus", "wallet"]
    assert coco_branch(names, 320, SHARED, flip=True, skip=frozenset({"bus", "wallet"})).classes == {0: 0}
    card = read_card(_composed_folder(tmp_path, ["person", "bus"]))
    merging = card.model_copy(update={"thresholds": Thresholds(conf=0.3, merge_iou=0.5)})
    with coco_baseline(merging, SHARED) as base:
        assert base.card.thresholds.merge_iou is None  # the untouched model, as `import-yolov5` serves it
        assert base.card.thresholds.conf == 0.3


@pytest.fixture
def coco_sourced_data(tmp_path: Path) -> Path:
    """Two labelled photos (train: zidane, val: bus) of classes person and bus, both listed as
    COCO-sourced in manifest.csv; boxes around the people and the bus."""
    root = tmp_path / "data"
    labels = {
        ("train", ZIDANE): ["0 0.74 0.53 0.32 0.94", "0 0.43 0.64 0.45 0.72"],
        ("val", BUS): [
            "1 0.52 0.47 0.95 0.51",
            "0 0.16 0.61 0.19 0.47",
            "0 0.35 0.59 0.16 0.43",
            "0 0.91 0.59 0.17 0.47",
        ],
    }
    rows = ["file_stem,split,source_repo"]
    for (split, photo), lines in labels.items():
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        (root / "images" / split / photo.name).write_bytes(photo.read_bytes())
        (root / "labels" / split / f"{photo.stem}.txt").write_text("\n".join(lines) + "\n")
        rows.append(f"{photo.stem},{split},lightly-ai/coco128_yolo")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    (root / "data.yaml").write_text("train: images/train\nval: images/val\nnames: {0: person, 1: bus}\n")
    return root / "data.yaml"


def test_evaluation_sets_are_the_split_unseen_coco_images_and_sources(coco_sourced_data: Path) -> None:
    from training.baseline import UNSEEN_COCO, evaluation_sets

    sets = evaluation_sets(coco_sourced_data)
    assert {k: [p.name for p in v] for k, v in sets.items()} == {
        "val": ["bus.jpg"],
        UNSEEN_COCO: ["bus.jpg"],
        "val from lightly-ai/coco128_yolo": ["bus.jpg"],
    }


@pytest.mark.slow
@pytest.mark.shared
@has_base
def test_publish_refuses_a_candidate_below_the_coco_base(coco_sourced_data: Path, tmp_path: Path) -> None:
    need("yolov5")
    from training.cli import main

    worse = _composed_folder(tmp_path / "worse", ["person", "bus"], answers={"bus"})  # forgot person
    same = _composed_folder(tmp_path / "same", ["person", "bus"])
    common = ["--data", str(coco_sourced_data), "--shared", str(SHARED), "--weights-dir", str(tmp_path / "weights")]
    assert main(["publish", str(worse), *common]) == 3
    assert not (tmp_path / "weights" / "finder").exists()
    assert main(["publish", str(same), *common]) == 0

    argv = ["evaluate", str(same), "--data", str(coco_sourced_data), "--baseline", "coco", "--shared", str(SHARED)]
    assert main([*argv, "--bootstrap", "20"]) == 0
    recorded = read_card(same).metrics["baseline"]
    unseen = next(s for s in recorded["sets"] if s["name"].startswith("COCO-sourced"))
    assert unseen["candidate_coco_map50"] == pytest.approx(unseen["base_coco_map50"])
    assert unseen["base_coco_map50"] > 0.5
    # the same answers on every resample: no difference, and never above the base
    assert unseen["difference_interval"] == pytest.approx([0.0, 0.0]) and unseen["not_above"] == 1.0
    assert "difference, 95 % over images" in (same / "eval" / "baseline.md").read_text()
    assert "COCO-class mean" in (same / "eval" / "baseline.md").read_text()
    assert "Against the untouched COCO model" in (same / "MODEL_CARD.md").read_text()


GRAFFITI = SHARED / "datasets" / "graffiti"
has_graffiti = pytest.mark.skipif(not GRAFFITI.is_dir(), reason=f"{GRAFFITI} not present (set STADTBLICK_SHARED)")


@pytest.mark.shared
@has_graffiti
def test_a_served_folder_as_the_base_keeps_its_own_boxes_first(tmp_path: Path) -> None:
    """`compose --base-folder`: the shipped graffiti model beside itself with its scores halved. The
    halved copies rank below the base's boxes and NMS drops them, so the union serves exactly the
    base's boxes; the card records each branch's scale."""
    need("onnx")
    from training.cli import main

    shipped = Path(__file__).resolve().parents[2] / "weights" / "graffiti"
    data = tmp_path / "data"
    photos = sorted(
        p for p in (GRAFFITI / "images" / "val").iterdir() if (GRAFFITI / "labels" / "val" / f"{p.stem}.txt").is_file()
    )
    for photo in photos[:3]:
        for kind, src in (("images", photo), ("labels", GRAFFITI / "labels" / "val" / f"{photo.stem}.txt")):
            (data / kind / "val").mkdir(parents=True, exist_ok=True)
            (data / kind / "val" / src.name).write_bytes(src.read_bytes())
    (data / "data.yaml").write_text("train: images/val\nval: images/val\nnames: {0: graffiti}\n")
    out = tmp_path / "composed"
    argv = ["compose", "--detector", "graffiti", "--base-folder", str(shipped), "--specialist", str(shipped)]
    argv += ["--answers", "graffiti", "--specialist-score-scale", "0.5", "--data", str(data / "data.yaml")]
    assert main([*argv, "--version", "0.0.1-test", "--out", str(out), "--flip"]) == 2  # a COCO-only option
    assert not out.exists()
    assert main([*argv, "--version", "0.0.1-test", "--out", str(out)]) == 0

    card = read_card(out)
    assert card.input_size == read_card(shipped).input_size and card.output_layout == "yolov5"
    assert [b["score_scale"] for b in card.training["branches"]] == [1.0, 0.5]
    composed = OnnxDetector(out / "model.onnx", card)
    base = OnnxDetector(shipped / "model.onnx", read_card(shipped))
    params = DetectParams(conf=0.05, iou=0.45, max_det=300)
    found = 0
    for photo in photos[:3]:
        want, got = base.detect(_rgb(photo), params), composed.detect(_rgb(photo), params)
        assert len(got) == len(want)
        np.testing.assert_allclose(got.xyxy, want.xyxy, atol=0.5)
        np.testing.assert_allclose(got.confidence, want.confidence, atol=1e-4)
        found += len(want)
    assert found

    # with a knee, the default confidence is where the knee serves the specialist's raw score
    bent = tmp_path / "bent"
    assert main([*argv, "--specialist-score-knee", "0.3:0.6", "--version", "0.0.2-test", "--out", str(bent)]) == 2
    assert main([*argv, "--specialist-score-knee", "0.4:0.2", "--version", "0.0.2-test", "--out", str(bent)]) == 0
    card = read_card(bent)
    assert card.thresholds.conf == 0.2 and card.training["branches"][1]["score_knee"] == [0.4, 0.2]
    assert "raw score 0.4 is served at 0.2" in (bent / "MODEL_CARD.md").read_text()
