"""Prometheus metrics, one registry per app instance (so tests can run several apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from service.pipeline import ImageRun


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "stadtblick_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.inference_seconds = Histogram(
            "stadtblick_inference_seconds",
            "Model inference time per image",
            ["detector"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2),
            registry=self.registry,
        )
        self.detections = Counter(
            "stadtblick_detections", "Objects detected", ["detector", "class_name"], registry=self.registry
        )
        self.images = Counter("stadtblick_images", "Images processed", registry=self.registry)
        self.models_loaded = Gauge("stadtblick_models_loaded", "Detectors ready to serve", registry=self.registry)
        self.rate_limit_unavailable = Counter(
            "stadtblick_rate_limit_unavailable",
            "Requests let through without a rate limit: the shared buckets in PostgreSQL could not be read",
            registry=self.registry,
        )

    def observe(self, run: ImageRun) -> None:
        """Count an analysed image: its inference time and detections per detector and class."""
        self.images.inc()
        for r in run.runs:
            self.inference_seconds.labels(r.detector.name).observe(r.elapsed_ms / 1000)
            for name in r.detections.class_name:
                self.detections.labels(r.detector.name, name).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
