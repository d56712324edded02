"""Discovery and loading of detector folders; broken ones fail alone with a clear error."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from helpers import TINY_INPUT, write_detector

from service.inference import SessionConfig
from service.registry.registry import ModelRegistry, ModelUnavailable


@pytest.fixture
def mixed_weights(tmp_path: Path, tiny_yolo11_onnx: Path) -> Path:
    names = [f"c{i}" for i in range(80)]
    write_detector(tmp_path, tiny_yolo11_onnx, "good", names, TINY_INPUT)
    missing = write_detector(tmp_path, tiny_yolo11_onnx, "missing", names, TINY_INPUT)
    (missing / "model.onnx").unlink()
    tampered = write_detector(tmp_path, tiny_yolo11_onnx, "tampered", names, TINY_INPUT)
    with (tampered / "model.onnx").open("ab") as fh:
        fh.write(b"\0")
    garbage = write_detector(tmp_path, tiny_yolo11_onnx, "garbage", names, TINY_INPUT)
    (garbage / "model.onnx").write_bytes(b"not an onnx file")
    card = json.loads((garbage / "model.json").read_text())
    card["files"]["fp32"]["sha256"] = hashlib.sha256(b"not an onnx file").hexdigest()
    (garbage / "model.json").write_text(json.dumps(card))
    (tmp_path / "badcard").mkdir()
    (tmp_path / "badcard" / "model.json").write_text('{"name": "badcard"}')
    (tmp_path / "not_a_detector").mkdir()
    return tmp_path


def test_broken_detectors_fail_alone_with_the_file_named(mixed_weights: Path) -> None:
    registry = ModelRegistry.discover([mixed_weights])
    assert set(registry.entries) == {"good", "missing", "tampered", "garbage", "badcard"}
    registry.load_all(SessionConfig(intra_op_threads=1))
    assert registry.get("good").layout.value == "yolov8"
    assert registry.default_names() == ["good"]
    expectations = {
        "missing": "model file is missing",
        "tampered": "does not match the model card",
        "garbage": "cannot be loaded",
        "badcard": "invalid model card",
    }
    for name, phrase in expectations.items():
        with pytest.raises(ModelUnavailable) as err:
            registry.get(name)
        assert phrase in str(err.value)
        assert str(mixed_weights / name) in str(err.value)


def test_first_weights_folder_wins_a_name_clash(tmp_path: Path, tiny_yolo11_onnx: Path) -> None:
    names = [f"c{i}" for i in range(80)]
    first = write_detector(tmp_path / "a", tiny_yolo11_onnx, "same", names, TINY_INPUT, version="1")
    write_detector(tmp_path / "b", tiny_yolo11_onnx, "same", names, TINY_INPUT, version="2")
    registry = ModelRegistry.discover([tmp_path / "a", tmp_path / "b", tmp_path / "absent"])
    assert registry.entries["same"].folder == first


def test_unknown_detector_is_a_key_error(tiny_weights: Path) -> None:
    registry = ModelRegistry.discover([tiny_weights])
    with pytest.raises(KeyError):
        registry.get("nope")
