"""Per-model counters, as Triton's / KServe's V2 statistics extension reports them
(shaped into that document by ``protocol.models``)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

__all__ = ["Duration", "ModelStatistics"]


@dataclass(slots=True)
class Duration:
    """A count of events and their total duration in nanoseconds."""

    count: int = 0
    ns: int = 0

    def add(self, seconds: float, count: int = 1) -> None:
        self.count += count
        self.ns += int(seconds * 1e9)


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

    def copy(self) -> ModelStatistics:
        """A copy that later counting does not change."""
        return replace(
            self,
            success=replace(self.success),
            fail=replace(self.fail),
            queue=replace(self.queue),
            compute_infer=replace(self.compute_infer),
            batches={size: replace(d) for size, d in self.batches.items()},
        )
