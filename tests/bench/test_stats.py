"""Percentiles, Poisson schedules and the server's queue / compute split."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tensorgate.bench.stats import arrivals, latency, server_split


def test_percentiles_are_in_milliseconds() -> None:
    result = latency([i / 1000 for i in range(1, 101)])  # 1..100 ms
    assert result.p50 == pytest.approx(50.5)
    assert result.p99 == pytest.approx(99.01)
    assert result.mean == pytest.approx(50.5)
    assert math.isnan(latency([]).p50)


def test_poisson_arrivals_are_seeded_and_at_the_rate() -> None:
    times = arrivals(200.0, 30.0, seed=3)
    assert np.array_equal(times, arrivals(200.0, 30.0, seed=3))
    assert not np.array_equal(times, arrivals(200.0, 30.0, seed=4))
    assert np.all(np.diff(times) > 0)
    assert times[-1] < 30.0
    assert len(times) == pytest.approx(6000, rel=0.05)
    gaps = np.diff(times)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.1)  # exponential: CV = 1
    with pytest.raises(ValueError, match="rate > 0"):
        arrivals(0, 1)


def stats(success: int, queue_ns: int, infer_ns: int, rows: int, runs: int) -> dict[str, object]:
    return {
        "model_stats": [
            {
                "inference_count": rows,
                "execution_count": runs,
                "inference_stats": {
                    "success": {"count": success, "ns": 0},
                    "queue": {"count": success, "ns": queue_ns},
                    "compute_infer": {"count": success, "ns": infer_ns},
                },
            }
        ]
    }


def test_the_split_is_per_request_between_snapshots() -> None:
    before = stats(10, 10_000_000, 50_000_000, 10, 10)
    after = stats(110, 310_000_000, 1_050_000_000, 110, 35)
    split = server_split(before, after)
    assert split.requests == 100
    assert split.queue_ms == pytest.approx(3.0)
    assert split.compute_ms == pytest.approx(10.0)
    assert split.batch_size == pytest.approx(4.0)
    assert math.isnan(server_split({}, {}).queue_ms)
