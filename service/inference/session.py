"""ONNX Runtime session creation: once per model, with thread settings from configuration."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort


@dataclass(frozen=True)
class SessionConfig:
    """Thread settings; 0 lets ONNX Runtime pick (one thread per physical core).

    `spinning`: ONNX Runtime's intra-op threads busy-wait between operators, which can take the
    cores from other workers; `python -m bench.threads` measures both settings (on 2 cores with
    one thread per worker it made no difference, so the default stays).
    """

    intra_op_threads: int = 0
    inter_op_threads: int = 1
    spinning: bool = True
    providers: tuple[str, ...] = ("CPUExecutionProvider",)

    @classmethod
    def from_env(cls) -> SessionConfig:
        return cls(
            intra_op_threads=int(os.environ.get("STADTBLICK_INTRA_OP_THREADS", "0")),
            inter_op_threads=int(os.environ.get("STADTBLICK_INTER_OP_THREADS", "1")),
        )


def create_session(model_path: Path, config: SessionConfig) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = config.intra_op_threads
    options.inter_op_num_threads = config.inter_op_threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if config.spinning else "0")
    available = set(ort.get_available_providers())
    providers = [p for p in config.providers if p in available] or ["CPUExecutionProvider"]
    return ort.InferenceSession(str(model_path), sess_options=options, providers=providers)
