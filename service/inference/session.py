"""ONNX Runtime session creation: once per model, with thread settings from configuration."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import onnxruntime as ort

T = TypeVar("T")


@dataclass(frozen=True)
class SessionConfig:
    """Thread settings; 0 lets ONNX Runtime pick (one thread per physical core).

    `lone_run_threads` > `intra_op_threads`: a second session with that many threads serves a run
    while its request is the only one in flight (`RunWidthSession`), so a lone request gets all
    cores and concurrent ones one core each.

    `spinning`: ONNX Runtime's intra-op threads busy-wait between operators, which can take the
    cores from other workers; `python -m bench.threads` measures both settings (on 2 cores with
    one thread per worker it made no difference, so the default stays).
    """

    intra_op_threads: int = 0
    inter_op_threads: int = 1
    spinning: bool = True
    lone_run_threads: int = 0
    providers: tuple[str, ...] = ("CPUExecutionProvider",)

    @classmethod
    def from_env(cls) -> SessionConfig:
        return cls(
            intra_op_threads=int(os.environ.get("STADTBLICK_INTRA_OP_THREADS", "0")),
            inter_op_threads=int(os.environ.get("STADTBLICK_INTER_OP_THREADS", "1")),
        )


class _Requests:
    """Requests being served in this process (decode and inference), over all models: they share
    the same cores. Counted by `RequestExecutor`, read by `RunWidthSession`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def enter(self) -> None:
        with self._lock:
            self.count += 1

    def leave(self) -> None:
        with self._lock:
            self.count -= 1


IN_FLIGHT = _Requests()


class RequestExecutor(ThreadPoolExecutor):
    """The inference worker pool; every job counts as a request in flight while it runs."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        def counted() -> T:
            IN_FLIGHT.enter()
            try:
                return fn(*args, **kwargs)
            finally:
                IN_FLIGHT.leave()

        return super().submit(counted)


class RunWidthSession:
    """One model in two ONNX Runtime sessions: a wide one while its request is the only one in
    flight, a narrow one while others run beside it.

    A fixed thread count makes a choice the load should make: all cores per run gives the lone
    request (an inspector's one photo) the lowest latency but oversubscribes the cores under
    concurrent requests, one thread per run is the reverse. `python -m bench.threads` measures it.
    """

    def __init__(self, wide: ort.InferenceSession, narrow: ort.InferenceSession, in_flight: _Requests = IN_FLIGHT):
        self.wide, self.narrow, self._in_flight = wide, narrow, in_flight

    def run(self, output_names: list[str] | None, feed: dict[str, Any]) -> list[Any]:
        session = self.wide if self._in_flight.count <= 1 else self.narrow
        return session.run(output_names, feed)

    def get_inputs(self) -> list[ort.NodeArg]:
        return self.narrow.get_inputs()

    def get_outputs(self) -> list[ort.NodeArg]:
        return self.narrow.get_outputs()

    def get_modelmeta(self) -> ort.ModelMetadata:
        return self.narrow.get_modelmeta()


def create_session(model_path: Path, config: SessionConfig) -> ort.InferenceSession | RunWidthSession:
    if config.lone_run_threads > max(config.intra_op_threads, 1):
        wide = replace(config, intra_op_threads=config.lone_run_threads, lone_run_threads=0)
        narrow = replace(config, lone_run_threads=0)
        return RunWidthSession(_ort_session(model_path, wide), _ort_session(model_path, narrow))
    return _ort_session(model_path, config)


def _ort_session(model_path: Path, config: SessionConfig) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = config.intra_op_threads
    options.inter_op_num_threads = config.inter_op_threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if config.spinning else "0")
    available = set(ort.get_available_providers())
    providers = [p for p in config.providers if p in available] or ["CPUExecutionProvider"]
    return ort.InferenceSession(str(model_path), sess_options=options, providers=providers)
