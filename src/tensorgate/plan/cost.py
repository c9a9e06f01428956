"""Measured capacity + prices + traffic → what a month costs on each option.

Provisioned options (``cpu``, ``accelerator``, ``gpu``) are sized for the peak: the peak
rate (average × peak-to-average) plus headroom, over one instance's measured images/s,
rounded up, and never below the minimum kept for redundancy; they run all month.
Serverless is billed for what runs: one invocation per ``images_per_request`` images,
each billed its measured run time at the configured memory, plus the per-request fee;
its peak concurrency is checked against the account's limit. An option whose measured
p99 exceeds the latency target is marked infeasible rather than priced as if it fit.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from tensorgate.errors import ConfigError
from tensorgate.plan.prices import Option, PriceTable

__all__ = [
    "Capacity",
    "Crossover",
    "OptionCost",
    "Traffic",
    "cheapest",
    "cheapest_of",
    "crossovers",
    "monthly_cost",
    "priced",
]


@dataclass(frozen=True, slots=True)
class Capacity:
    """How one option performs, measured (by ``tensorgate bench``) or given.

    Attributes:
        option: the price table option it was measured on.
        images_per_s: one instance's sustained throughput (provisioned options).
        latency_ms: one request's run time, the billed duration (serverless).
        p99_ms: the p99 latency at that throughput, where known.
        images_per_request: images sent in one request (serverless billing).
        source: where the figures come from (``measured: FILE`` or ``given``).
    """

    option: str
    images_per_s: float = 0.0
    latency_ms: float = 0.0
    p99_ms: float | None = None
    images_per_request: int = 1
    source: str = "given"


@dataclass(frozen=True, slots=True)
class Traffic:
    """The load to plan for.

    Attributes:
        images_per_month: the volume.
        peak_to_average: the busiest hour's rate over the month's average rate.
        headroom: spare capacity kept at the peak (0.3 = 30 %).
        min_instances: provisioned instances kept however low the load (redundancy).
        p99_target_ms: options measured slower than this at p99 are infeasible.
    """

    images_per_month: float
    peak_to_average: float = 3.0
    headroom: float = 0.3
    min_instances: int = 2
    p99_target_ms: float | None = None

    def __post_init__(self) -> None:
        if self.images_per_month < 0:
            raise ConfigError(f"images per month is {self.images_per_month}; it must be ≥ 0")
        if self.peak_to_average < 1:
            raise ConfigError(
                f"peak-to-average is {self.peak_to_average}; the peak is at least the average (≥ 1)"
            )
        if self.headroom < 0:
            raise ConfigError(f"headroom is {self.headroom}; give a fraction ≥ 0 (0.3 = 30 %)")
        if self.min_instances < 1:
            raise ConfigError(f"min instances is {self.min_instances}; keep at least 1")

    def at(self, volume: float) -> Traffic:
        """The same traffic shape at another monthly volume."""
        return replace(self, images_per_month=volume)


@dataclass(frozen=True, slots=True)
class OptionCost:
    """One option's month at one volume.

    Attributes:
        option: its name; kind: its kind.
        monthly: the month's cost in the table's currency.
        instances: provisioned instances at the peak, or serverless peak concurrency.
        feasible: False when it cannot carry the load within the limits.
        note: why not, or what sized it.
    """

    option: str
    kind: str
    monthly: float
    instances: int
    feasible: bool
    note: str


def monthly_cost(
    option: Option, capacity: Capacity, traffic: Traffic, hours_per_month: float = 730.0
) -> OptionCost:
    """What ``traffic`` costs for a month on ``option`` performing as ``capacity``."""
    seconds = hours_per_month * 3600.0
    peak = traffic.images_per_month / seconds * traffic.peak_to_average
    slow = (
        traffic.p99_target_ms is not None
        and capacity.p99_ms is not None
        and capacity.p99_ms > traffic.p99_target_ms
    )
    if option.kind == "serverless":
        if capacity.latency_ms <= 0:
            raise ConfigError(
                f"option {option.name!r} is serverless: give its per-request latency in ms"
            )
        requests = traffic.images_per_month / capacity.images_per_request
        billed = capacity.latency_ms / 1000.0
        cost = requests * billed * option.memory_gb * option.per_gb_second
        cost += requests / 1e6 * option.per_million_requests
        concurrency = math.ceil(
            peak / capacity.images_per_request * billed * (1 + traffic.headroom)
        )
        feasible = concurrency <= option.max_concurrency and not slow
        note = f"{concurrency:,} concurrent at peak"
        if concurrency > option.max_concurrency:
            note += f", over the account limit of {option.max_concurrency:,}"
        if slow:
            note += (
                f"; p99 {capacity.p99_ms:.0f} ms is over the {traffic.p99_target_ms:.0f} ms target"
            )
        return OptionCost(option.name, option.kind, cost, concurrency, feasible, note)
    if capacity.images_per_s <= 0:
        raise ConfigError(
            f"option {option.name!r} needs its measured images/s per instance to be priced"
        )
    needed = math.ceil(peak * (1 + traffic.headroom) / capacity.images_per_s - 1e-9)
    instances = max(traffic.min_instances, needed)
    cost = instances * option.hourly * hours_per_month
    note = f"{instances} × {capacity.images_per_s:,.0f} img/s"
    if needed < traffic.min_instances:
        note += f" (the minimum of {traffic.min_instances}; the peak needs {max(needed, 0)})"
    if slow:
        note += f"; p99 {capacity.p99_ms:.0f} ms is over the {traffic.p99_target_ms:.0f} ms target"
    return OptionCost(option.name, option.kind, cost, instances, not slow, note)


def priced(table: PriceTable, capacity: Capacity, traffic: Traffic) -> OptionCost:
    """``monthly_cost`` of the table's option that ``capacity`` was measured on."""
    return monthly_cost(table.option(capacity.option), capacity, traffic, table.hours_per_month)


def cheapest_of(costs: Iterable[OptionCost]) -> OptionCost | None:
    """The cheapest feasible cost (ties: by option name), or None if none is feasible."""
    feasible = [c for c in costs if c.feasible]
    return min(feasible, key=lambda c: (c.monthly, c.option)) if feasible else None


def cheapest(
    table: PriceTable, capacities: Sequence[Capacity], traffic: Traffic
) -> OptionCost | None:
    """The cheapest feasible option at ``traffic``, or None if none is feasible."""
    return cheapest_of(priced(table, c, traffic) for c in capacities)


@dataclass(frozen=True, slots=True)
class Crossover:
    """Where the cheapest option changes: ``below`` is cheapest just under ``volume``
    images a month, ``above`` just over it. Instances come in whole numbers, so two
    options can trade places several times in a row; such a run is one Crossover whose
    ``volume`` is where it starts and ``until`` where it ends (equal when it is a
    single change)."""

    volume: float
    below: str
    above: str
    until: float = 0.0
    between: str = ""  # the other option of an alternating run

    @property
    def flips(self) -> bool:
        """True when the two options alternate over ``volume``..``until``."""
        return self.until > self.volume


def _merge(changes: list[Crossover]) -> list[Crossover]:
    """Runs of consecutive changes between the same two options → one Crossover each."""
    merged: list[Crossover] = []
    pairs: list[set[str]] = []
    for change in changes:
        pair = {change.below, change.above}
        if merged and pairs[-1] == pair:
            last = merged[-1]
            other = next(iter(pair - {last.below}))
            merged[-1] = Crossover(last.volume, last.below, change.above, change.volume, other)
        else:
            merged.append(change)
            pairs.append(pair)
    return merged


def _winner(table: PriceTable, capacities: Sequence[Capacity], traffic: Traffic) -> str:
    best = cheapest(table, capacities, traffic)
    return best.option if best else "(none)"


def crossovers(
    table: PriceTable,
    capacities: Sequence[Capacity],
    traffic: Traffic,
    volumes: Iterable[float],
) -> list[Crossover]:
    """Volumes (within the span of ``volumes``) where the cheapest option changes, each
    found on a fine logarithmic grid and refined by bisection to 0.1 %; back-and-forth
    changes between the same two options are merged into one."""
    span = sorted(volumes)
    low, high = math.log10(max(span[0], 1.0)), math.log10(max(span[-1], 1.0))
    steps = 600
    grid = [10 ** (low + (high - low) * i / steps) for i in range(steps + 1)]
    found: list[Crossover] = []
    previous = _winner(table, capacities, traffic.at(grid[0]))
    for left, right in itertools.pairwise(grid):
        winner = _winner(table, capacities, traffic.at(right))
        if winner == previous:
            continue
        a, b = left, right
        while b / a > 1.001:
            middle = math.sqrt(a * b)
            if _winner(table, capacities, traffic.at(middle)) == previous:
                a = middle
            else:
                b = middle
        found.append(Crossover(b, previous, winner, b))
        previous = winner
    return _merge(found)
