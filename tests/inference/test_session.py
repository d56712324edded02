"""Run width: all cores for a lone request, one core per request under concurrent load."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from service.config import Settings
from service.inference.session import (
    IN_FLIGHT,
    RequestExecutor,
    RunWidthSession,
    SessionConfig,
    _Requests,
    create_session,
)


def add_model(path: Path, addend: float) -> Path:
    """y = x + addend: two of these tell which session served a run."""
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "c"], ["y"])],
        "add",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        [numpy_helper.from_array(np.full((1, 3), addend, np.float32), "c")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what the installed ONNX Runtime reads
    path.write_bytes(model.SerializeToString())
    return path


def served_by(session: RunWidthSession) -> float:
    return float(session.run(None, {"x": np.zeros((1, 3), np.float32)})[0][0, 0])


def test_lone_request_runs_wide_and_concurrent_ones_narrow(tmp_path: Path) -> None:
    wide = ort.InferenceSession(str(add_model(tmp_path / "wide.onnx", 1.0)), providers=["CPUExecutionProvider"])
    narrow = ort.InferenceSession(str(add_model(tmp_path / "narrow.onnx", 2.0)), providers=["CPUExecutionProvider"])
    requests = _Requests()
    session = RunWidthSession(wide, narrow, requests)
    assert served_by(session) == 1.0  # called outside any worker pool (CLI, edge runtime)
    requests.enter()
    assert served_by(session) == 1.0
    requests.enter()
    assert served_by(session) == 2.0
    requests.leave()
    assert served_by(session) == 1.0
    assert [i.name for i in session.get_inputs()] == ["x"]


def test_executor_counts_the_jobs_in_flight() -> None:
    both_running = threading.Barrier(2, timeout=10)

    def seen() -> int:
        both_running.wait()
        count = IN_FLIGHT.count
        both_running.wait()  # neither leaves before both have looked
        return count

    with RequestExecutor(max_workers=2) as pool:
        assert pool.submit(lambda: IN_FLIGHT.count).result() == 1
        futures = [pool.submit(seen) for _ in range(2)]
        assert [f.result() for f in futures] == [2, 2]
    assert IN_FLIGHT.count == 0


def test_executor_stops_counting_a_job_that_failed() -> None:
    with RequestExecutor(max_workers=1) as pool, pytest.raises(ZeroDivisionError):
        pool.submit(lambda: 1 / 0).result()
    assert IN_FLIGHT.count == 0


def test_create_session_pairs_sessions_only_when_a_lone_run_gets_more_threads(tmp_path: Path) -> None:
    model = add_model(tmp_path / "m.onnx", 1.0)
    assert isinstance(create_session(model, SessionConfig(1, lone_run_threads=2)), RunWidthSession)
    assert isinstance(create_session(model, SessionConfig(2, lone_run_threads=2)), ort.InferenceSession)
    assert isinstance(create_session(model, SessionConfig(1)), ort.InferenceSession)


def test_threads_set_by_hand_turn_the_lone_run_width_off() -> None:
    assert Settings(intra_op_threads=0).lone_run_threads >= 1
    assert Settings(intra_op_threads=1).lone_run_threads == 0
