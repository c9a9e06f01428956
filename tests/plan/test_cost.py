"""The cost model, checked against sums done by hand."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from tensorgate.errors import ConfigError
from tensorgate.plan import Capacity, PriceTable, Traffic, cheapest, crossovers, monthly_cost
from tensorgate.plan.cost import Crossover, _merge
from tensorgate.plan.prices import Option

SMALL = Option("small", "cpu", hourly=0.1)
BIG = Option("big", "gpu", hourly=1.0)
FUNCTION = Option(
    "fn", "serverless", memory_gb=2.0, per_gb_second=0.00001, per_million_requests=0.2
)
TABLE = PriceTable(dt.date(2026, 11, 21), "USD", (SMALL, BIG, FUNCTION), 730.0, "test")
MONTH_S = 730 * 3600


def test_provisioned_options_are_sized_for_the_peak_with_headroom() -> None:
    # average 100 img/s, peak 300, +50 % → 450 img/s; 100 img/s each → 5 instances
    traffic = Traffic(100 * MONTH_S, peak_to_average=3, headroom=0.5, min_instances=2)
    cost = monthly_cost(SMALL, Capacity("small", images_per_s=100), traffic)
    assert cost.instances == 5
    assert cost.monthly == pytest.approx(5 * 0.1 * 730)
    assert cost.feasible


def test_the_minimum_instances_hold_at_low_volume() -> None:
    cost = monthly_cost(SMALL, Capacity("small", images_per_s=100), Traffic(1000, min_instances=3))
    assert cost.instances == 3
    assert "the minimum of 3" in cost.note


def test_serverless_is_billed_per_gb_second_and_request() -> None:
    traffic = Traffic(10_000_000, peak_to_average=2, headroom=0.0)
    cost = monthly_cost(FUNCTION, Capacity("fn", latency_ms=50), traffic)
    # 1e7 requests × 0.05 s × 2 GB × 1e-5 + 10 × 0.2
    assert cost.monthly == pytest.approx(1e7 * 0.05 * 2 * 1e-5 + 10 * 0.2)
    peak = 10_000_000 / MONTH_S * 2
    assert cost.instances == math.ceil(peak * 0.05)


def test_batched_requests_divide_the_request_count() -> None:
    one = monthly_cost(FUNCTION, Capacity("fn", latency_ms=50), Traffic(1e7))
    eight = monthly_cost(
        FUNCTION, Capacity("fn", latency_ms=400, images_per_request=8), Traffic(1e7)
    )
    assert eight.monthly == pytest.approx(one.monthly - 10 * 0.2 + 10 * 0.2 / 8)


def test_over_the_concurrency_limit_or_the_p99_target_is_infeasible() -> None:
    huge = Traffic(1e12)
    assert not monthly_cost(FUNCTION, Capacity("fn", latency_ms=50), huge).feasible
    slow = Capacity("small", images_per_s=100, p99_ms=300)
    cost = monthly_cost(SMALL, slow, Traffic(1e6, p99_target_ms=200))
    assert not cost.feasible
    assert "p99 300 ms is over the 200 ms target" in cost.note


def test_missing_figures_are_named() -> None:
    with pytest.raises(ConfigError, match="latency in ms"):
        monthly_cost(FUNCTION, Capacity("fn"), Traffic(1))
    with pytest.raises(ConfigError, match="images/s per instance"):
        monthly_cost(SMALL, Capacity("small"), Traffic(1))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"images_per_month": -1}, "≥ 0"),
        ({"peak_to_average": 0.5}, "at least the average"),
        ({"headroom": -0.1}, "fraction ≥ 0"),
        ({"min_instances": 0}, "at least 1"),
    ],
)
def test_impossible_traffic_is_refused(kwargs: dict[str, float], match: str) -> None:
    arguments: dict[str, float] = {"images_per_month": 1.0, **kwargs}
    with pytest.raises(ConfigError, match=match):
        Traffic(**arguments)  # type: ignore[arg-type]


def test_the_crossover_from_serverless_to_one_instance_is_where_costs_meet() -> None:
    # one instance (min 1) costs 73/month flat up to its capacity; the function costs
    # V × (0.05 × 2 × 1e-5 + 0.2e-6) = V × 1.2e-6 → they meet at V = 73 / 1.2e-6.
    capacities = [Capacity("small", images_per_s=1000), Capacity("fn", latency_ms=50)]
    traffic = Traffic(1e6, min_instances=1, headroom=0)
    (crossing,) = crossovers(TABLE, capacities, traffic, [1e6, 1e9])
    assert (crossing.below, crossing.above) == ("fn", "small")
    assert crossing.volume == pytest.approx(73 / 1.2e-6, rel=0.002)
    assert not crossing.flips
    best = cheapest(TABLE, capacities, traffic.at(1e9))
    assert best is not None
    assert best.option == "small"


def test_alternating_changes_merge_into_one_crossover() -> None:
    changes = [
        Crossover(1, "a", "b", 1),
        Crossover(2, "b", "a", 2),
        Crossover(3, "a", "b", 3),
        Crossover(5, "b", "c", 5),
        Crossover(6, "c", "b", 6),
    ]
    assert _merge(changes) == [
        Crossover(1, "a", "b", 3, "b"),
        Crossover(5, "b", "b", 6, "c"),
    ]
