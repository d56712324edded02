"""The lost-property embedding cut from a real exported detector, the photo-search measurement,
and the false-positive rate on label-free images."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from helpers import need, write_square_detector

from service.inference.preprocess import letterbox, to_tensor
from service.lost_property.embedding import ColourShapeDescriptor, OnnxEmbedder, embedder_for
from service.registry.card import read_card
from training.cli import main
from training.evaluate import evaluate, open_detector
from training.retrieval import collect_items, measure


@pytest.fixture(scope="module")
def with_embedding(release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("embedding") / "shapes"
    shutil.copytree(release, folder)
    assert main(["export-embedding", str(folder)]) == 0
    return folder


def test_embedding_is_the_detectors_own_pooled_backbone_maps(with_embedding: Path) -> None:
    """Run the detector with its backbone taps exposed: pooling them by hand gives the same vector."""
    onnx = need("onnx")
    from training.export_embedding import GEM_P, backbone_taps

    card = read_card(with_embedding)
    assert card.embedding is not None and (with_embedding / card.embedding.path).is_file()
    detector = onnx.load(str(with_embedding / card.files["fp32"].path))
    maps = backbone_taps(detector)
    assert len(maps) == 3  # strides 8, 16, 32
    for name in maps:
        detector.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(detector.SerializeToString(), providers=["CPUExecutionProvider"])

    crop = np.random.default_rng(0).integers(0, 255, (90, 70, 3), dtype=np.uint8)
    features = session.run(maps, {"images": to_tensor(letterbox(crop, card.input_size)[0])})
    pooled = [(np.maximum(f, 1e-6) ** GEM_P).mean(axis=(2, 3))[0] ** (1 / GEM_P) for f in features]
    expected = np.concatenate([p / np.linalg.norm(p) for p in pooled])
    expected /= np.linalg.norm(expected)

    embedder = embedder_for(with_embedding, card)
    assert isinstance(embedder, OnnxEmbedder)
    assert embedder.kind == f"onnx+hsv-hog-v1:{card.name}:{card.version}"
    features = embedder.features(crop)
    np.testing.assert_allclose(features, expected, atol=1e-5)
    assert not np.allclose(features, embedder.features(np.full((90, 70, 3), 200, np.uint8)), atol=1e-3)
    joined = np.concatenate([features, ColourShapeDescriptor().embed(crop)])
    np.testing.assert_allclose(embedder.embed(crop), joined / np.linalg.norm(joined), atol=1e-6)


def test_the_embedding_runs_at_its_own_input_size(with_embedding: Path) -> None:
    """A composed detector (`train compose`) runs at 640 px and keeps the embedding its specialist
    was cut at a smaller size: the embedding is fed at the size it was made for."""
    card = read_card(with_embedding)
    larger = card.model_copy(update={"input_size": (card.input_size[0] * 2, card.input_size[1] * 2)})
    crop = np.random.default_rng(1).integers(0, 255, (90, 70, 3), dtype=np.uint8)
    np.testing.assert_array_equal(
        embedder_for(with_embedding, larger).features(crop), embedder_for(with_embedding, card).features(crop)
    )


def test_model_card_lists_the_embedding_file(with_embedding: Path) -> None:
    text = (with_embedding / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "| embedding | embedding.onnx | fp32 |" in text


def test_a_changed_embedding_file_is_refused(with_embedding: Path, tmp_path: Path) -> None:
    folder = tmp_path / "shapes"
    shutil.copytree(with_embedding, folder)
    (folder / "embedding.onnx").write_bytes(b"not the model in the card")
    with pytest.raises(ValueError, match="not the one in the model card"):
        embedder_for(folder, read_card(folder))


def _object(rng: np.random.Generator, size: int) -> np.ndarray:
    """A distinct item: its own colours and stripes."""
    item = np.empty((size, size, 3), np.uint8)
    item[:] = rng.integers(0, 255, 3)
    step = int(rng.integers(4, 12))
    item[:, ::step] = rng.integers(0, 255, 3)
    cv2.circle(item, (size // 2, size // 2), size // 4, rng.integers(0, 255, 3).tolist(), -1)
    return item


def _lost_property_set(root: Path) -> Path:
    """Six photos of different items, and four frames of one recording of a wallet."""
    rng = np.random.default_rng(1)
    images, labels = root / "images" / "val", root / "labels" / "val"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    wallet = _object(rng, 60)
    photos = {f"coco_{i:012d}": (_object(rng, 70), 0) for i in range(6)}
    photos |= {f"rfwallet_frame{i:03d}": (wallet, 1) for i in range(4)}
    for k, (stem, (item, cls)) in enumerate(photos.items()):
        photo = rng.integers(100, 140, (160, 200, 3), dtype=np.uint8)
        x, y = 20 + 10 * (k % 4), 30 + 5 * (k % 3)
        photo[y : y + item.shape[0], x : x + item.shape[1]] = item
        cv2.imwrite(str(images / f"{stem}.jpg"), photo)
        cx, cy = (x + item.shape[1] / 2) / 200, (y + item.shape[0] / 2) / 160
        (labels / f"{stem}.txt").write_text(f"{cls} {cx} {cy} {item.shape[1] / 200} {item.shape[0] / 160}\n")
    (root / "data.yaml").write_text("val: images/val\ntrain: images/val\nnames:\n  0: backpack\n  1: wallet\n")
    return root / "data.yaml"


def test_register_and_queries_from_photos_and_recordings(tmp_path: Path) -> None:
    items = collect_items(_lost_property_set(tmp_path), "val")
    register = [i for i in items if i.query_of is None]
    assert len(register) == 7  # six items, the wallet once
    assert sum(i.query_of == "recording:wallet" for i in items) == 3
    simulated = [i for i in items if i.query_of is not None and i.query_of != "recording:wallet"]
    assert {i.query_of for i in simulated} == {r.identity for r in register} - {"recording:wallet"}


def test_hit_rates_tell_a_good_embedder_from_a_blind_one(tmp_path: Path) -> None:
    items = collect_items(_lost_property_set(tmp_path), "val")
    good = measure(ColourShapeDescriptor(), items)
    assert good.real["top1"] == 1.0 and good.simulated["top1"] >= 0.8

    class Blind:
        kind = "blind"

        def embed(self, crop: np.ndarray) -> np.ndarray:
            return np.ones(4, np.float32) / 2

    blind = measure(Blind(), items)  # every item ties: the register order decides, mostly wrongly
    assert blind.simulated["top1"] <= 1 / 6 + 1e-9
    assert blind.simulated["top5"] < 1.0


def test_retrieval_command_reports_and_records_in_the_card(with_embedding: Path, tmp_path: Path) -> None:
    folder = tmp_path / "shapes"
    shutil.copytree(with_embedding, folder)
    data = _lost_property_set(tmp_path / "data")
    assert main(["lost-property-retrieval", str(folder), "--data", str(data)]) == 0
    report = json.loads((folder / "eval" / "retrieval.json").read_text())
    kinds = [r["embedder"] for r in report["results"]]
    assert kinds == [f"onnx+hsv-hog-v1:shapes:{read_card(folder).version}", "hsv-hog-v1"]
    assert all(r["real"]["queries"] == 3 and r["simulated"]["queries"] == 6 for r in report["results"])
    assert read_card(folder).metrics["retrieval"]["results"] == report["results"]
    assert "Photo search, top-1 / top-5" in (folder / "MODEL_CARD.md").read_text()


def test_false_positive_rate_on_photos_without_labels(tmp_path: Path) -> None:
    """Of two label-free photos, the one with an unlabelled red square counts as a false alarm."""
    folder = write_square_detector(tmp_path, "road", ["pothole", "crack"], thresholds={"conf": 0.5})
    images, labels = tmp_path / "ds" / "images" / "val", tmp_path / "ds" / "labels" / "val"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    for stem, square, label in (("hit", True, True), ("clean", False, False), ("alarm", True, False)):
        photo = np.full((240, 320, 3), 40, np.uint8)
        if square:
            photo[80:144, 100:164] = (0, 0, 255)  # BGR red, 64 px: one window of the detector
        cv2.imwrite(str(images / f"{stem}.png"), photo)
        (labels / f"{stem}.txt").write_text("0 0.4125 0.4667 0.2 0.2667\n" if label else "")
    (tmp_path / "ds" / "data.yaml").write_text("val: images/val\nnames:\n  0: pothole\n  1: crack\n")
    result = evaluate(open_detector(folder), tmp_path / "ds" / "data.yaml")
    assert result.background_images == 2
    assert result.background_false_positive_rate == 0.5
    assert result.classes[0].recall == 1.0
