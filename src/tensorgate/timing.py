"""Where one request's time went: decode, queue and compute, gathered as it passes.

A door that wants a request's breakdown (the access log, tracing) opens a
``RequestTiming`` with ``timed()``; the engine's stages find it in a context variable
and add to it: the decode pool's time per image, and, from the batcher, the time the
request waited in the queue and the time of the batch that ran it (with the batch's
rows and instance). Several images of one request may run in several batches: each
figure is the largest over its images, the stage's share of the request's wall time.

With tracing on and the request sampled, each stage is also kept as an interval
(``stages``: name, start, end on ``time.monotonic``, attributes) for the door to turn
into spans when the request ends (``tensorgate.tracing``).

Nothing is gathered (one context-variable read per stage) when no door asked.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RequestTiming", "Stage", "current_timing", "stage", "timed"]


@dataclass(frozen=True, slots=True)
class Stage:
    """One interval of a request's life (``time.monotonic`` seconds)."""

    name: str
    start: float
    end: float
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RequestTiming:
    """Seconds per stage of one request (the largest over its images).

    Attributes:
        decode_s: decode and preprocess of an image, in the decode pool.
        queue_s: from entering the batcher's queue to its batch starting.
        compute_s: the batch run on the device.
        batch_rows: rows of the (largest) batch that ran it.
        instance: the instance that ran its last batch.
        stages: the stages as intervals, kept only for a traced request (else None).
    """

    decode_s: float = 0.0
    queue_s: float = 0.0
    compute_s: float = 0.0
    batch_rows: int = 0
    instance: int | None = None
    stages: list[Stage] | None = None

    def stage(self, name: str, start: float, end: float, **attributes: Any) -> None:
        """Keep an interval, when this request is traced."""
        if self.stages is not None:
            self.stages.append(Stage(name, start, end, attributes))

    def decoded(self, seconds: float) -> None:
        self.decode_s = max(self.decode_s, seconds)

    def ran(self, queue_s: float, compute_s: float, rows: int, instance: int) -> None:
        self.queue_s = max(self.queue_s, queue_s)
        self.compute_s = max(self.compute_s, compute_s)
        self.batch_rows = max(self.batch_rows, rows)
        self.instance = instance


_CURRENT: ContextVar[RequestTiming | None] = ContextVar("tensorgate_timing", default=None)


def current_timing() -> RequestTiming | None:
    """The timing of the request this code runs for, if a door asked for one."""
    return _CURRENT.get()


@contextlib.contextmanager
def timed(*, stages: bool = False) -> Iterator[RequestTiming]:
    """Gather the breakdown of the request run inside this block (and its intervals,
    with ``stages``)."""
    timing = RequestTiming(stages=[] if stages else None)
    token = _CURRENT.set(timing)
    try:
        yield timing
    finally:
        _CURRENT.reset(token)


@contextlib.contextmanager
def stage(name: str, **attributes: Any) -> Iterator[None]:
    """Keep the block as one interval of the current request, when it is traced."""
    timing = _CURRENT.get()
    if timing is None or timing.stages is None:
        yield
        return
    start = time.monotonic()
    try:
        yield
    finally:
        timing.stage(name, start, time.monotonic(), **attributes)
