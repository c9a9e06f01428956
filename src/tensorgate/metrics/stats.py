"""Per-model statistics in the shape of Triton's / KServe's V2 statistics extension."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Duration", "ModelStatistics"]


@dataclass(slots=True)
class Duration:
    """A count of events and their total duration in nanoseconds."""

    count: int = 0
    ns: int = 0

    def add(self, seconds: float, count: int = 1) -> None:
        self.count += count
        self.ns += int(seconds * 1e9)

    def to_v2(self) -> dict[str, int]:
        return {"count": self.count, "ns": self.ns}


@dataclass(slots=True)
class ModelStatistics:
    """Counters of one model version (updated on the event loop only).

    Attributes:
        success / fail: requests answered, by outcome, with end-to-end time.
        queue: per request, time from arrival to the start of compute.
        compute_infer: per request, the runtime time of its batch.
        inference_count: rows inferred; execution_count: batches run.
        batches: per batch size, count and runtime time.
    """

    name: str
    version: str
    last_inference_ms: int = 0
    inference_count: int = 0
    execution_count: int = 0
    success: Duration = field(default_factory=Duration)
    fail: Duration = field(default_factory=Duration)
    queue: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    batches: dict[int, Duration] = field(default_factory=dict)

    def to_v2(self) -> dict[str, Any]:
        zero = Duration().to_v2()
        return {
            "name": self.name,
            "version": self.version,
            "last_inference": self.last_inference_ms,
            "inference_count": self.inference_count,
            "execution_count": self.execution_count,
            "inference_stats": {
                "success": self.success.to_v2(),
                "fail": self.fail.to_v2(),
                "queue": self.queue.to_v2(),
                "compute_input": zero,
                "compute_infer": self.compute_infer.to_v2(),
                "compute_output": zero,
                "cache_hit": zero,
                "cache_miss": zero,
            },
            "batch_stats": [
                {
                    "batch_size": size,
                    "compute_input": {"count": d.count, "ns": 0},
                    "compute_infer": d.to_v2(),
                    "compute_output": {"count": d.count, "ns": 0},
                }
                for size, d in sorted(self.batches.items())
            ],
        }
