"""Raw ONNX Runtime latency of every detector variant, its FLOPs and latency floor, and the
in-process cost of each pipeline stage (decode, letterbox + inference + NMS).

The raw number is what the model itself costs on this machine; everything the service adds
on top (HTTP, upload parsing, JPEG decoding, resizing, NMS, JSON) is measured against it.
fp32 and INT8 are timed interleaved so their ratio is fair on a noisy machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.detectors import DetectorSpec
from bench.flops import count_flops, latency_floor_ms
from bench.images import TestImage
from bench.timing import Budget, ratio, summarize, time_interleaved
from service.imaging import decode_image
from service.inference import OnnxDetector
from service.inference.preprocess import letterbox, to_tensor
from service.inference.session import SessionConfig, create_session


@dataclass
class RawResult:
    detector: str
    input_size: tuple[int, int]
    served_variant: str
    latency: dict[str, dict[str, Any]] = field(default_factory=dict)  # variant -> Stats dict
    flops: dict[str, Any] | None = None
    floor_ms: float | None = None
    int8_speedup: float | None = None
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None

    def p50(self, variant: str | None = None) -> float | None:
        stats = self.latency.get(variant or self.served_variant)
        return stats["p50_ms"] if stats else None

    @property
    def single_stream_ips(self) -> float | None:
        """Images/s of back-to-back raw inference: the ceiling the service is compared to."""
        p50 = self.p50()
        return round(1000 / p50, 2) if p50 else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "input_size": list(self.input_size),
            "served_variant": self.served_variant,
            "latency_ms": self.latency,
            "single_stream_images_per_s": self.single_stream_ips,
            "flops": self.flops,
            "latency_floor_ms": self.floor_ms,
            "floor_efficiency": ratio(self.floor_ms, self.p50("fp32")),
            "int8_speedup": self.int8_speedup,
            "stages_ms": self.stages,
            "error": self.error,
        }


def input_tensor(image: TestImage, size: tuple[int, int]) -> np.ndarray:
    """The 1080p test frame, letterboxed exactly as the service does it."""
    pixels = decode_image(image.data).pixels
    return to_tensor(letterbox(pixels, size)[0])


def raw_runner(spec: DetectorSpec, image: TestImage) -> Callable[[], object]:
    """One raw inference of the served variant, to interleave with service requests (fair overhead numbers)."""
    session = create_session(spec.variants[spec.served_variant], SessionConfig())
    name = session.get_inputs()[0].name
    feed = {name: input_tensor(image, spec.input_size)}
    return lambda: session.run(None, feed)


def measure_stages(spec: DetectorSpec, images: list[TestImage], budget: Budget) -> dict[str, dict[str, Any]]:
    """Decode (full size and reduced JPEG decode) and `OnnxDetector.detect`, per test image, in this process."""
    detector = OnnxDetector(spec.variants[spec.served_variant], spec.card, SessionConfig())
    long_side = max(spec.input_size)
    stages: dict[str, dict[str, Any]] = {}
    for image in images:
        data = image.data
        pixels = decode_image(data).pixels
        iters = max(budget.iters // 2, 2)
        timed = time_interleaved(
            {
                "decode_full": lambda d=data: decode_image(d),
                "decode_reduced": lambda d=data: decode_image(d, target_long_side=long_side),
                "detect": lambda p=pixels: detector.detect(p),
            },
            budget.warmup,
            iters,
            budget.max_seconds,
        )
        for stage, samples in timed.items():
            stages[f"{image.name}.{stage}"] = summarize(samples).as_dict()
    return stages


def measure_raw(spec: DetectorSpec, images: list[TestImage], budget: Budget, peak_gflops: float | None) -> RawResult:
    result = RawResult(spec.name, spec.input_size, spec.served_variant)
    try:
        feed_tensor = input_tensor(images[0], spec.input_size)
        runs = {}
        for variant, path in spec.variants.items():
            session = create_session(path, SessionConfig())
            name = session.get_inputs()[0].name
            runs[variant] = lambda s=session, n=name: s.run(None, {n: feed_tensor})
        timed = time_interleaved(runs, budget.warmup, budget.iters, budget.max_seconds)
        result.latency = {variant: summarize(samples).as_dict() for variant, samples in timed.items()}
        if "int8" in result.latency and "fp32" in result.latency:
            result.int8_speedup = ratio(result.p50("fp32"), result.p50("int8"))
        try:
            count = count_flops(spec.variants.get("fp32") or next(iter(spec.variants.values())))
            result.flops = count.as_dict()
            result.floor_ms = latency_floor_ms(count.flops, peak_gflops)
        except ImportError as exc:
            result.flops = {"error": f"onnx not installed: {exc}"}
        result.stages = measure_stages(spec, images, budget)
    except Exception as exc:  # one broken model must not end the whole run
        result.error = f"{type(exc).__name__}: {exc}"
    return result
