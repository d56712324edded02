"""Rewrite the DFL box decoding of an exported Ultralytics head so it runs fast on CPUs.

Ultralytics exports DFL as Reshape (1, 4, 16, A) -> Transpose (1, 16, 4, A) -> Softmax(axis=1)
-> 1x1 Conv with weights 0..15. ONNX Runtime computes a softmax over a non-last axis by
transposing the whole tensor first; on road_damage (512 px) that softmax took 3.4 of 19.4 ms
(`python -m bench.profile`; the old graph is `git show 3270fa8:weights/road_damage/model.onnx`).
The rewrite computes the same expectation with the softmax over the last axis:
Transpose (1, 4, A, 16) -> Softmax(axis=-1) -> MatMul with the bins (16, 1) -> (1, 4, A, 1),
which the following Reshape turns into the same (1, 4, A). Outputs are numerically identical
up to float rounding; the exporter's parity check against PyTorch still runs afterwards.
"""

from __future__ import annotations

import onnx
from onnx import helper, numpy_helper


def _single_consumer(graph: onnx.GraphProto, tensor: str) -> onnx.NodeProto | None:
    users = [n for n in graph.node if tensor in n.input]
    return users[0] if len(users) == 1 else None


def _attr(node: onnx.NodeProto, name: str):
    return next((helper.get_attribute_value(a) for a in node.attribute if a.name == name), None)


def softmax_last_axis(model: onnx.ModelProto) -> bool:
    """Rewrite every DFL block in place; returns whether the graph had one (anchor-based heads don't)."""
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    changed = False
    for transpose in [
        n for n in graph.node if n.op_type == "Transpose" and list(_attr(n, "perm") or []) == [0, 2, 1, 3]
    ]:
        softmax = _single_consumer(graph, transpose.output[0])
        if softmax is None or softmax.op_type != "Softmax" or _attr(softmax, "axis") != 1:
            continue
        conv = _single_consumer(graph, softmax.output[0])
        if conv is None or conv.op_type != "Conv" or len(conv.input) != 2 or conv.input[1] not in inits:
            continue
        reshape = _single_consumer(graph, conv.output[0])
        if reshape is None or reshape.op_type != "Reshape":  # (1, 1, 4, A) and (1, 4, A, 1) differ until reshaped
            continue
        weights = numpy_helper.to_array(inits[conv.input[1]])
        if weights.shape[:1] != (1,) or weights.size != weights.shape[1]:
            continue
        prefix = transpose.name.rsplit("/", 1)[0]  # keeps the head's node-name prefix (INT8 leaves it in float)
        bins = f"{prefix}/bins"
        graph.initializer.append(numpy_helper.from_array(weights.reshape(-1, 1), bins))
        new_nodes = [
            helper.make_node(
                "Transpose",
                [transpose.input[0]],
                [f"{prefix}/bins_last"],
                name=f"{prefix}/TransposeLast",
                perm=[0, 1, 3, 2],
            ),
            helper.make_node(
                "Softmax", [f"{prefix}/bins_last"], [f"{prefix}/probs"], name=f"{prefix}/SoftmaxLast", axis=-1
            ),
            helper.make_node("MatMul", [f"{prefix}/probs", bins], [conv.output[0]], name=f"{prefix}/Expectation"),
        ]
        at = list(graph.node).index(transpose)
        for old in (transpose, softmax, conv):
            graph.node.remove(old)
        for offset, node in enumerate(new_nodes):
            graph.node.insert(at + offset, node)
        if not any(conv.input[1] in n.input for n in graph.node):
            graph.initializer.remove(inits[conv.input[1]])
        changed = True
    if changed:
        del graph.value_info[:]  # shapes of the replaced tensors changed; ONNX Runtime re-infers them
        onnx.checker.check_model(model)
    return changed
