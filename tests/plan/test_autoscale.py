"""The autoscaled fleet and serverless over a day, on small hand-made traces."""

from __future__ import annotations

import math

import pytest

from tensorgate.errors import ConfigError
from tensorgate.plan.autoscale import (
    ScalingRule,
    ServerlessService,
    simulate_fleet,
    simulate_serverless,
)
from tensorgate.plan.day import Day
from tensorgate.plan.prices import Option
from tensorgate.plan.queueing import Service

FLEET = Option("c7i.large", "cpu", hourly=0.6)  # 0.01 a minute
LAMBDA = Option(
    "lambda-2gb", "serverless", memory_gb=2.0, per_gb_second=0.0000166667,
    per_million_requests=0.2,
)  # fmt: skip
SERVICE = Service(servers=2, service_s=0.02, service_p99_s=0.03, cv2=0.5)  # 100 img/s each


def test_flat_traffic_keeps_the_instances_it_needs_and_pays_for_them() -> None:
    day = Day((150.0,) * 30, "flat")
    rule = ScalingRule(target_utilisation=0.7, min_instances=1, max_instances=6)
    run = simulate_fleet(day, SERVICE, rule, FLEET)
    assert {m.instances for m in run.minutes} == {3}  # 150 / (100 × 0.7) → 3
    assert run.cost == pytest.approx(3 * 30 * 0.01)
    assert all(math.isfinite(m.p99_ms) for m in run.minutes)


def test_a_surge_scales_up_after_the_lag_serves_after_start_up_and_down_after_the_window() -> None:
    rates = (50.0,) * 10 + (250.0,) * 20 + (50.0,) * 20
    rule = ScalingRule(
        target_utilisation=0.7, min_instances=1, max_instances=6,
        scale_up_delay_s=60, scale_down_window_s=300, startup_s=120,
    )  # fmt: skip
    run = simulate_fleet(Day(rates, "surge"), SERVICE, rule, FLEET, p99_target_ms=200)
    counts = [m.instances for m in run.minutes]
    ready = [m.ready for m in run.minutes]
    assert counts[10] == 1  # the surge is seen a minute late
    assert counts[11] > 1
    assert (ready[11], ready[13]) == (1, counts[11])  # 2 minutes to start
    assert run.minutes[10].p99_ms == math.inf  # overloaded until help arrives
    assert run.over_target >= 3
    assert max(counts) == 4  # 250 / (100 × 0.7) → 4, reached in steps
    assert counts[-1] == 1  # back down once the window has passed
    assert counts[31] == 4  # not at once: the window holds the last highs


def test_serverless_pays_per_request_and_for_cold_starts() -> None:
    function = ServerlessService(latency_ms=15, p99_ms=20, cold_start_ms=800, keep_alive_s=600)
    busy = simulate_serverless(Day((20.0,) * 60, "busy"), function, LAMBDA)
    requests = 20 * 3600
    warm_cost = requests * 0.015 * 2 * 0.0000166667 + requests / 1e6 * 0.2
    assert busy.cold_starts == pytest.approx(busy.minutes[0].cold_starts)  # only the first
    assert busy.cost == pytest.approx(warm_cost + busy.cold_starts * 0.8 * 2 * 0.0000166667)
    idle = simulate_serverless(Day((0.0,) * 60, "idle"), function, LAMBDA)
    assert (idle.cost, idle.cold_starts) == (0, 0)
    # One request every 20 minutes: most find their environment expired (10 min).
    rare = simulate_serverless(Day((1 / 1200 / 1,) * 60, "rare"), function, LAMBDA, 500)
    expected = 60 * (60 / 1200) * math.exp(-600 / 1200)
    assert rare.cold_starts == pytest.approx(expected + 1, rel=1e-6)  # + the first
    assert all(m.p99_ms == 820 for m in rare.minutes)  # most are cold: p99 has the start
    assert rare.over_target == 60


def test_scaling_rules_refuse_nonsense() -> None:
    with pytest.raises(ConfigError, match=r"target utilisation is 1\.5"):
        ScalingRule(target_utilisation=1.5)
    with pytest.raises(ConfigError, match="need 1 <= min <= max"):
        ScalingRule(min_instances=5, max_instances=2)
