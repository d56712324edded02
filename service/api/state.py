"""What the running service holds: settings, detectors, the inference worker pool, metrics."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from service.api.metrics import Metrics
from service.config import Settings
from service.inference import SessionConfig
from service.registry.registry import ModelRegistry

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class ServiceState:
    settings: Settings
    registry: ModelRegistry
    metrics: Metrics
    executor: ThreadPoolExecutor
    ready: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def create(cls, settings: Settings) -> ServiceState:
        return cls(
            settings=settings,
            registry=ModelRegistry.discover(settings.weights_dirs),
            metrics=Metrics(),
            executor=ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="inference"),
        )

    def load_models(self) -> None:
        """Create the ONNX Runtime sessions; readiness flips once every detector was tried."""
        self.registry.load_all(SessionConfig(intra_op_threads=self.settings.intra_op_threads))
        self.metrics.models_loaded.set(sum(e.ready for e in self.registry.entries.values()))
        self.ready.set()

    async def run_inference(self, fn: Callable[[], T]) -> T:
        """Run CPU-bound work in the worker pool so the event loop keeps serving."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn)
