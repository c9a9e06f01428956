"""Prometheus instruments (``tensorgate_`` prefix), one registry per engine.

Under ``serve --workers`` the supervisor sets ``PROMETHEUS_MULTIPROC_DIR`` for its
workers: every value then lives in a file per process there, and each worker's
``/metrics`` answers the totals of all of them (counters and histograms summed; the
gauges as each says: queue depth and model memory summed over the live workers, load
time the largest), whichever worker the scrape reaches.
"""

from __future__ import annotations

import os
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics import MetricWrapperBase

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

_M = TypeVar("_M", bound=MetricWrapperBase)


class Metrics:
    """The instruments named in shared/DESIGN.md, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._children: dict[tuple[int, tuple[str, ...]], MetricWrapperBase] = {}
        r = self.registry
        self.requests = Counter(
            "tensorgate_requests", "Requests answered, by model and outcome.",
            ["model", "outcome"], registry=r,
        )  # fmt: skip
        self.request_duration = Histogram(
            "tensorgate_request_duration_seconds", "End-to-end request time in the engine.",
            ["model"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.queue_duration = Histogram(
            "tensorgate_queue_duration_seconds", "Time from arrival to the start of compute.",
            ["model"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.compute_duration = Histogram(
            "tensorgate_compute_duration_seconds", "Runtime time of one batch (device time).",
            ["model", "device"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.batch_size = Histogram(
            "tensorgate_batch_size", "Rows per batch run.",
            ["model"], buckets=_BATCH_BUCKETS, registry=r,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "tensorgate_queue_depth", "Rows waiting in the model's queue.",
            ["model"], registry=r, multiprocess_mode="livesum",
        )  # fmt: skip
        self.rejected = Counter(
            "tensorgate_rejected_requests", "Requests refused, by reason.",
            ["model", "reason"], registry=r,
        )  # fmt: skip
        self.model_load = Gauge(
            "tensorgate_model_load_seconds", "Seconds the model version took to load.",
            ["model", "version"], registry=r, multiprocess_mode="livemax",
        )  # fmt: skip
        self.decode_duration = Histogram(
            "tensorgate_decode_duration_seconds", "Image decode and preprocess time.",
            ["model"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip

        self.model_memory = Gauge(
            "tensorgate_model_memory_bytes", "Memory the model version took when it loaded.",
            ["model", "version", "device"], registry=r, multiprocess_mode="livesum",
        )  # fmt: skip
        self.evictions = Counter(
            "tensorgate_model_evictions", "Models unloaded to fit the memory budget.",
            ["model"], registry=r,
        )  # fmt: skip
        self.cold_start = Histogram(
            "tensorgate_model_cold_start_seconds",
            "Time a request waited for its evicted model to load again.",
            ["model"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip

    def child(self, metric: _M, *values: str) -> _M:
        """``metric.labels(*values)``, looked up once: ``labels`` validates and takes a
        lock on every call, and the engine labels per request and per batch on the
        event loop."""
        key = (id(metric), values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*values)
        return found  # type: ignore[return-value]

    def render(self) -> bytes:
        """The Prometheus text exposition of every instrument (of every worker, when
        ``PROMETHEUS_MULTIPROC_DIR`` is set)."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client.multiprocess import MultiProcessCollector

            every = CollectorRegistry()
            MultiProcessCollector(every)  # type: ignore[no-untyped-call]
            return generate_latest(every)
        return generate_latest(self.registry)
