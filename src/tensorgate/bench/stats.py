"""Pure figures: latency percentiles, Poisson arrivals, and the server's statistics
between two snapshots (queue vs compute time per request, mean batch size)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tensorgate.types import Array

__all__ = ["Latency", "ServerSplit", "arrivals", "latency", "server_split"]


@dataclass(frozen=True, slots=True)
class Latency:
    """Client-side latency of one step, in milliseconds."""

    p50: float
    p90: float
    p99: float
    mean: float


def latency(seconds: Sequence[float]) -> Latency:
    """Percentiles of request latencies given in seconds (NaN when there are none)."""
    if not seconds:
        nan = float("nan")
        return Latency(nan, nan, nan, nan)
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return Latency(float(p50), float(p90), float(p99), float(ms.mean()))


def arrivals(rate: float, seconds: float, seed: int = 0) -> Array:
    """Send times (s from the start) of a Poisson process of ``rate`` requests/s over
    ``seconds``: exponential gaps from a seeded generator, so runs are repeatable."""
    if rate <= 0 or seconds <= 0:
        raise ValueError(
            f"a Poisson schedule needs rate > 0 and seconds > 0 (got {rate}, {seconds})"
        )
    generator = np.random.default_rng(seed)
    expected = int(rate * seconds * 1.2) + 16
    times = np.cumsum(generator.exponential(1.0 / rate, size=expected))
    while times[-1] < seconds:  # a long tail of short gaps: draw more
        more = np.cumsum(generator.exponential(1.0 / rate, size=expected)) + times[-1]
        times = np.concatenate([times, more])
    return times[times < seconds]


@dataclass(frozen=True, slots=True)
class ServerSplit:
    """What the server measured between two snapshots of its V2 statistics.

    Attributes:
        requests: requests it answered successfully.
        queue_ms: mean time a request waited before its batch started.
        compute_ms: mean runtime time of the batch a request rode in.
        batch_size: mean rows per executed batch.
    """

    requests: int
    queue_ms: float
    compute_ms: float
    batch_size: float


def _model_stats(document: Mapping[str, Any]) -> dict[str, int]:
    totals = {
        "success": 0,
        "queue_ns": 0,
        "queue": 0,
        "infer_ns": 0,
        "infer": 0,
        "rows": 0,
        "runs": 0,
    }
    for model in document.get("model_stats", []):
        stats = model["inference_stats"]
        totals["success"] += int(stats["success"]["count"])
        totals["queue"] += int(stats["queue"]["count"])
        totals["queue_ns"] += int(stats["queue"]["ns"])
        totals["infer"] += int(stats["compute_infer"]["count"])
        for phase in ("compute_input", "compute_infer", "compute_output"):  # Triton's split
            totals["infer_ns"] += int(stats.get(phase, {}).get("ns", 0))
        totals["rows"] += int(model.get("inference_count", 0))
        totals["runs"] += int(model.get("execution_count", 0))
    return totals


def server_split(before: Mapping[str, Any], after: Mapping[str, Any]) -> ServerSplit:
    """The split between two ``GET /v2/models/{m}/stats`` answers (Triton's shape)."""
    a, b = _model_stats(before), _model_stats(after)
    d = {key: b[key] - a[key] for key in a}
    return ServerSplit(
        requests=d["success"],
        queue_ms=d["queue_ns"] / d["queue"] / 1e6 if d["queue"] else float("nan"),
        compute_ms=d["infer_ns"] / d["infer"] / 1e6 if d["infer"] else float("nan"),
        batch_size=d["rows"] / d["runs"] if d["runs"] else float("nan"),
    )
