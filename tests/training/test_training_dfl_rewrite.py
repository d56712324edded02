"""The exported head computes DFL with a last-axis softmax, and gives the same boxes as before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from training.dfl_rewrite import softmax_last_axis

ANCHORS = 7


def ultralytics_style_dfl() -> onnx.ModelProto:
    """The node pattern Ultralytics exports: Reshape -> Transpose(0,2,1,3) -> Softmax(1) -> Conv(0..15) -> Reshape."""
    nodes = [
        helper.make_node("Reshape", ["x", "shape_in"], ["r"], name="/model.9/dfl/Reshape"),
        helper.make_node("Transpose", ["r"], ["t"], name="/model.9/dfl/Transpose", perm=[0, 2, 1, 3]),
        helper.make_node("Softmax", ["t"], ["s"], name="/model.9/dfl/Softmax", axis=1),
        helper.make_node("Conv", ["s", "w"], ["c"], name="/model.9/dfl/conv/Conv"),
        helper.make_node("Reshape", ["c", "shape_out"], ["y"], name="/model.9/dfl/Reshape_1"),
    ]
    inits = [
        numpy_helper.from_array(np.array([1, 4, 16, ANCHORS], np.int64), "shape_in"),
        numpy_helper.from_array(np.arange(16, dtype=np.float32).reshape(1, 16, 1, 1), "w"),
        numpy_helper.from_array(np.array([1, 4, ANCHORS], np.int64), "shape_out"),
    ]
    graph = helper.make_graph(
        nodes,
        "dfl",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64, ANCHORS])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, ANCHORS])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_rewrite_keeps_outputs_and_moves_softmax_to_last_axis() -> None:
    model = ultralytics_style_dfl()
    x = np.random.default_rng(0).normal(0, 3, (1, 64, ANCHORS)).astype(np.float32)
    before = run(model, x)
    assert softmax_last_axis(model) is True
    ops = [(n.op_type, n.name) for n in model.graph.node]
    assert ("Conv", "/model.9/dfl/conv/Conv") not in ops
    softmax = next(n for n in model.graph.node if n.op_type == "Softmax")
    assert helper.get_attribute_value(softmax.attribute[0]) == -1
    assert all(n.name.startswith("/model.9/") for n in model.graph.node), "INT8 keeps the head prefix in float"
    np.testing.assert_allclose(run(model, x), before, rtol=1e-5, atol=1e-5)
    assert softmax_last_axis(model) is False, "idempotent"


def test_graph_without_dfl_is_left_alone(tmp_path: Path) -> None:
    model = ultralytics_style_dfl()
    model.graph.node[2].attribute[0].i = 2  # a softmax over another axis is not the DFL pattern
    before = model.SerializeToString()
    assert softmax_last_axis(model) is False
    assert model.SerializeToString() == before


@pytest.mark.slow
def test_exported_release_has_last_axis_softmax(release: Path) -> None:
    model = onnx.load(str(release / "model.onnx"))
    softmaxes = [n for n in model.graph.node if n.op_type == "Softmax"]
    assert softmaxes and all(helper.get_attribute_value(n.attribute[0]) == -1 for n in softmaxes)
