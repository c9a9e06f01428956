"""Per-model counters, as Triton's / KServe's V2 statistics extension reports them
(shaped into that document by ``protocol.models``)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

__all__ = ["BatchDurations", "Duration", "ModelStatistics"]


@dataclass(slots=True)
class Duration:
    """A count of events and their total duration in nanoseconds."""

    count: int = 0
    ns: int = 0

    def add(self, seconds: float, count: int = 1) -> None:
        self.count += count
        self.ns += int(seconds * 1e9)


@dataclass(slots=True)
class BatchDurations:
    """One batch size's batches: their compute, phase by phase (Triton's
    ``compute_input`` / ``compute_infer`` / ``compute_output``; each counts batches)."""

    input: Duration = field(default_factory=Duration)
    infer: Duration = field(default_factory=Duration)
    output: Duration = field(default_factory=Duration)

    @property
    def count(self) -> int:
        """Batches of this size."""
        return self.infer.count

    def add(self, input_s: float, infer_s: float, output_s: float) -> None:
        self.input.add(input_s)
        self.infer.add(infer_s)
        self.output.add(output_s)

    def copy(self) -> BatchDurations:
        return BatchDurations(replace(self.input), replace(self.infer), replace(self.output))


@dataclass(slots=True)
class ModelStatistics:
    """Counters of one model version (updated on the event loop only).

    Attributes:
        success / fail: requests answered, by outcome, with end-to-end time.
        queue: per request, time from arrival to the start of compute.
        compute_input / compute_infer / compute_output: per request, its batch's
            compute, gate held, in three: stacking the requests into the batch, the
            runtime's call, cutting the outputs back (batching/phases.py).
        inference_count: rows inferred; execution_count: batches run.
        batches: per batch size, its batches' compute in the same three phases.
    """

    name: str
    version: str
    last_inference_ms: int = 0
    inference_count: int = 0
    execution_count: int = 0
    success: Duration = field(default_factory=Duration)
    fail: Duration = field(default_factory=Duration)
    queue: Duration = field(default_factory=Duration)
    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)
    batches: dict[int, BatchDurations] = field(default_factory=dict)

    def copy(self) -> ModelStatistics:
        """A copy that later counting does not change."""
        return replace(
            self,
            success=replace(self.success),
            fail=replace(self.fail),
            queue=replace(self.queue),
            compute_input=replace(self.compute_input),
            compute_infer=replace(self.compute_infer),
            compute_output=replace(self.compute_output),
            batches={size: d.copy() for size, d in self.batches.items()},
        )
