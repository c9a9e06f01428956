"""When to close a batch: a pure function of the queue and the time.

A batch closes when it is full (``max_batch_size`` rows, or the next request would not
fit or has other shapes), when it reaches a preferred size, or when its first request has
waited ``max_queue_delay``. Rows, not requests, are counted: a request may carry several.
A batch closed by the delay is shared among the instances that are idle at that moment;
with ``spread`` (inputs still to be decoded on the instance), so is a full one.

A request of many images is queued as a few entries of several rows (``entry_sizes``),
not one per image: the event loop's work per queue entry (a future, a timer, the
bookkeeping of its answer) is then paid once per instance's share of the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["BatchPolicy", "Dispatch", "Wait", "entry_sizes", "plan_batch"]


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    """The batching settings of one model.

    Attributes:
        max_batch_size: rows per batch at most.
        max_queue_delay_s: how long the first request of a batch may wait for company.
        preferred_batch_sizes: row counts that close a batch at once, ascending.
        max_queue_rows: rows queued at most; more are refused with 503.
    """

    max_batch_size: int
    max_queue_delay_s: float = 0.0
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_rows: int = 64


@dataclass(frozen=True, slots=True)
class Dispatch:
    """Run the first ``count`` queued requests as one batch now."""

    count: int


@dataclass(frozen=True, slots=True)
class Wait:
    """Nothing to run yet: look again at ``until`` or when a request arrives."""

    until: float


def plan_batch(
    policy: BatchPolicy,
    rows: Sequence[int],
    compatible: int,
    first_arrival: float,
    now: float,
    idle_instances: int = 1,
    spread: bool = False,
) -> Dispatch | Wait:
    """Decide about the queue's head.

    Args:
        policy: the model's batching settings.
        rows: rows of each queued request, oldest first (not empty).
        compatible: how many leading requests share the first one's shapes.
        first_arrival: when the oldest request arrived.
        now: the current time.
        idle_instances: instances waiting for work, this one included. A batch that
            closes before it is full takes only its share of the queue, so idle
            instances split the work instead of one taking it all while others wait.
        spread: share a full batch too. For requests whose inputs are made on the
            instance (images decoded just before their batch runs), a batch's time grows
            with every row, and one instance decoding eight images while another waits
            is the tail this avoids.
    """
    fit = 0
    total = 0
    prefix_rows: list[int] = []
    for count in rows[:compatible]:
        if fit and total + count > policy.max_batch_size:
            break
        fit += 1
        total += count
        prefix_rows.append(total)
    full = total >= policy.max_batch_size or fit < len(rows)
    if full:
        if spread and idle_instances > 1:
            return Dispatch(max(1, min(fit, -(-compatible // idle_instances))))
        return Dispatch(fit)
    preferred = [p for p in policy.preferred_batch_sizes if p <= total]
    if preferred:
        target = preferred[-1]
        count = max(i + 1 for i, r in enumerate(prefix_rows) if r <= target)
        return Dispatch(count)
    deadline = first_arrival + policy.max_queue_delay_s
    if now >= deadline:
        return Dispatch(-(-fit // max(1, idle_instances)))
    return Wait(deadline)


def entry_sizes(rows: int, instances: int, max_batch_size: int) -> list[int]:
    """How many rows each queue entry of a ``rows``-row request takes: as few entries as
    give every instance a share (a lone request still runs on all of them), none over
    ``max_batch_size``, sizes differing by one at most, larger first."""
    if rows <= 0:
        return []
    count = max(min(rows, max(1, instances)), -(-rows // max(1, max_batch_size)))
    size, extra = divmod(rows, count)
    return [size + 1] * extra + [size] * (count - extra)
