"""FLOPs of an ONNX graph and the machine's measured peak FLOP/s: the latency floor.

FLOPs / peak says how far a model's latency is from what the hardware could do at best;
if the measured latency is far above it, the time goes to memory traffic, threading or
overhead (not arithmetic), and that decides which optimisation is worth trying.
Only the compute-heavy ops are counted (Conv, ConvTranspose, Gemm, MatMul and their
quantised forms); element-wise ops are a rounding error for YOLO-style CNNs.
"""

from __future__ import annotations

import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from math import prod
from pathlib import Path
from typing import Any

import numpy as np

# op type -> (index of the data input, index of the weight input)
_CONV_OPS = {"Conv": (0, 1), "ConvInteger": (0, 1), "QLinearConv": (0, 3), "ConvTranspose": (0, 1)}
_MATMUL_OPS = {"MatMul": (0, 1), "MatMulInteger": (0, 1), "QLinearMatMul": (0, 3), "Gemm": (0, 1)}


@dataclass
class FlopCount:
    """MACs per op type; FLOPs = 2 x MACs (one multiply + one add)."""

    macs_by_op: dict[str, int] = field(default_factory=dict)
    nodes_counted: int = 0
    nodes_unresolved: list[str] = field(default_factory=list)

    @property
    def macs(self) -> int:
        return sum(self.macs_by_op.values())

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def as_dict(self) -> dict[str, Any]:
        return {
            "gflops": round(self.flops / 1e9, 4),
            "gmacs": round(self.macs / 1e9, 4),
            "macs_by_op": self.macs_by_op,
            "nodes_counted": self.nodes_counted,
            "nodes_unresolved": self.nodes_unresolved[:20],
        }


def _shape_table(model: Any) -> dict[str, list[int]]:
    """Static shapes of every tensor shape inference could resolve (dynamic dims become 1)."""
    table: dict[str, list[int]] = {}
    graph = model.graph
    for init in graph.initializer:
        table[init.name] = list(init.dims)
    for info in (*graph.input, *graph.value_info, *graph.output):
        tensor = info.type.tensor_type
        if not tensor.HasField("shape"):
            continue
        dims = [d.dim_value if d.HasField("dim_value") else 1 for d in tensor.shape.dim]
        table.setdefault(info.name, dims)
    return table


def count_flops(model_path: Path) -> FlopCount:
    """Count Conv/Gemm/MatMul MACs of `model_path` using ONNX shape inference."""
    import onnx  # the [train]/[dev] extra; the slim service install does not need it

    model = onnx.shape_inference.infer_shapes(onnx.load(str(model_path)))
    shapes = _shape_table(model)
    result = FlopCount()
    macs: dict[str, int] = defaultdict(int)
    for node in model.graph.node:
        op = node.op_type
        if op not in _CONV_OPS and op not in _MATMUL_OPS:
            continue
        data_idx, weight_idx = _CONV_OPS.get(op) or _MATMUL_OPS[op]
        try:
            x = shapes[node.input[data_idx]]
            w = shapes[node.input[weight_idx]]
            y = shapes[node.output[0]]
        except (KeyError, IndexError):
            result.nodes_unresolved.append(node.name or op)
            continue
        if op in _CONV_OPS:
            # Conv: every output element needs (Cin/groups) * kh * kw MACs; W = [Cout, Cin/g, kh, kw].
            # ConvTranspose: every input element is spread over (Cout/g) * kh * kw outputs; W = [Cin, Cout/g, ...].
            n = prod(x) if op == "ConvTranspose" else prod(y)
            macs[op] += n * prod(w[1:])
        elif op == "Gemm":
            attrs = {a.name: a.i for a in node.attribute if a.name in ("transA", "transB")}
            k = x[0] if attrs.get("transA") else x[-1]
            macs[op] += prod(y) * k
        else:  # MatMul: Y[..., M, N] = A[..., M, K] @ B[..., K, N]
            macs[op] += prod(y) * x[-1]
        result.nodes_counted += 1
    result.macs_by_op = dict(macs)
    return result


@dataclass
class Peak:
    """Best observed FLOP/s of a large fp32 matmul on all cores, from NumPy (BLAS) and ONNX Runtime (MLAS)."""

    numpy_gflops: float | None
    onnxruntime_gflops: float | None
    size: int
    reps: int

    @property
    def best_gflops(self) -> float | None:
        values = [v for v in (self.numpy_gflops, self.onnxruntime_gflops) if v]
        return max(values) if values else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "numpy_gflops": self.numpy_gflops,
            "onnxruntime_gflops": self.onnxruntime_gflops,
            "best_gflops": self.best_gflops,
            "matrix_size": self.size,
            "reps": self.reps,
        }


def _best_rate(fn: Any, flops: float, reps: int) -> float:
    fn()  # warm-up: thread pools, page faults
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return round(flops / best / 1e9, 2)


def _ort_matmul(size: int) -> Any:
    """A one-node MatMul graph in ONNX Runtime with the service's session settings (all cores)."""
    import onnx
    from onnx import TensorProto, helper

    from service.inference.session import SessionConfig, create_session

    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [size, size])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [size, size])
    c = helper.make_tensor_value_info("c", TensorProto.FLOAT, [size, size])
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "peak", [a, b], [c])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "matmul.onnx"
        onnx.save(model, str(path))
        return create_session(path, SessionConfig())


def measure_peak(size: int, reps: int) -> Peak:
    """Peak fp32 FLOP/s; the best of `reps` runs, since peak is a property of the hardware, not a typical value."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    flops = 2.0 * size**3
    numpy_rate = _best_rate(lambda: a @ b, flops, reps)
    try:
        session = _ort_matmul(size)
        ort_rate: float | None = _best_rate(lambda: session.run(None, {"a": a, "b": b}), flops, reps)
    except ImportError:
        ort_rate = None
    return Peak(numpy_rate, ort_rate, size, reps)


def latency_floor_ms(flops: int, peak_gflops: float | None) -> float | None:
    """The time the model's arithmetic alone would take at the measured peak."""
    if not peak_gflops:
        return None
    return round(flops / (peak_gflops * 1e9) * 1000, 3)
