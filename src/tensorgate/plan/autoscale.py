"""A day of traffic, minute by minute: an autoscaled fleet, and serverless beside it.

**The fleet** scales as the Helm chart's HorizontalPodAutoscaler does: each minute it
reads the load as it was ``scale_up_delay_s`` ago (metrics and sync lag) — utilisation
× ready instances, where utilisation is the arrival rate over their capacity, at most
100 % as CPU is — wants ``ceil(that / target)`` instances, scales up to that at once (new
instances serve after ``startup_s``, measured from `podman run` to ready), and scales
down only to the highest count wanted over the last ``scale_down_window_s`` (the
autoscaler's stabilisation window), within ``min_instances`` and ``max_instances``. Every
instance is paid from its start. The p99 of each minute comes from the queueing model
(``plan.queueing``) with the instances ready then.

**Serverless** on the same trace: each minute's concurrency is rate × run time; the
function keeps as many environments as the busiest minute within ``keep_alive_s`` needed
(a generous reading of how Lambda keeps idle environments), so new ones — cold starts —
come when concurrency climbs past that, and, at low rates, when a request finds every
environment expired (probability ``exp(−λ × keep_alive)``). Each cold start is billed its
init time (Lambda bills the init phase) and adds it to that request's latency; a minute
whose cold share passes 1 % has the cold start in its p99.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from tensorgate.errors import ConfigError
from tensorgate.plan.day import Day
from tensorgate.plan.prices import Option
from tensorgate.plan.queueing import Service, response_quantile_s

__all__ = [
    "FleetMinute",
    "FleetRun",
    "ScalingRule",
    "ServerlessMinute",
    "ServerlessRun",
    "ServerlessService",
    "simulate_fleet",
    "simulate_serverless",
]


@dataclass(frozen=True, slots=True)
class ScalingRule:
    """The autoscaler's settings (the chart's ``autoscaling`` values) and start-up time."""

    target_utilisation: float = 0.7
    min_instances: int = 2
    max_instances: int = 6
    scale_up_delay_s: float = 60.0
    scale_down_window_s: float = 300.0
    startup_s: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.target_utilisation <= 1:
            raise ConfigError(
                f"target utilisation is {self.target_utilisation}; give a fraction in (0, 1]"
            )
        if not 1 <= self.min_instances <= self.max_instances:
            raise ConfigError(
                f"instances {self.min_instances}..{self.max_instances}: need 1 <= min <= max"
            )
        if min(self.scale_up_delay_s, self.scale_down_window_s, self.startup_s) < 0:
            raise ConfigError("scale-up delay, scale-down window and start-up time are >= 0")


@dataclass(frozen=True, slots=True)
class FleetMinute:
    rate: float
    instances: int  # paid: ready and starting
    ready: int
    utilisation: float
    p99_ms: float
    cost: float


@dataclass(frozen=True, slots=True)
class FleetRun:
    minutes: tuple[FleetMinute, ...]
    cost: float  # over the day's span
    over_target: int  # minutes whose p99 passed the target (or could not keep up)

    @property
    def peak_instances(self) -> int:
        return max(m.instances for m in self.minutes)


def simulate_fleet(
    day: Day,
    service: Service,
    rule: ScalingRule,
    option: Option,
    p99_target_ms: float | None = None,
) -> FleetRun:
    """The fleet over ``day``, minute by minute, priced at ``option``'s hourly rate."""
    capacity = service.capacity
    lag = max(0, round(rule.scale_up_delay_s / 60))
    window = max(1, round(rule.scale_down_window_s / 60))
    startup = max(0, math.ceil(rule.startup_s / 60))  # whole minutes before it serves
    # Start the day as the autoscaler would have left it at the first minute's rate.
    first = math.ceil(day.rates[0] / (capacity * rule.target_utilisation) - 1e-9)
    count = min(rule.max_instances, max(rule.min_instances, first))
    starts: deque[tuple[int, int]] = deque()  # (minute it serves, instances)
    ready = count
    # What the autoscaler reads: busy instances' worth (utilisation × ready, and CPU
    # cannot pass 100 %), the reading of ``lag`` minutes ago.
    readings: deque[float] = deque(maxlen=lag + 1)
    readings.extend([min(day.rates[0], ready * capacity) / capacity] * lag)
    wanted: deque[int] = deque(maxlen=window)
    minutes: list[FleetMinute] = []
    cost = 0.0
    over = 0
    for minute, rate in enumerate(day.rates):
        while starts and starts[0][0] <= minute:
            ready += starts.popleft()[1]
        readings.append(min(rate, ready * capacity) / capacity)
        desired = math.ceil(readings[0] / rule.target_utilisation - 1e-9)
        desired = min(rule.max_instances, max(rule.min_instances, desired))
        wanted.append(desired)
        if desired > count:
            starts.append((minute + startup, desired - count))
            if startup == 0:
                ready += starts.pop()[1]
            count = desired
        elif max(wanted) < count:
            drop = count - max(wanted)
            count -= drop
            while drop and starts:  # instances still starting are stopped first
                serves_at, starting = starts.pop()
                taken = min(starting, drop)
                drop -= taken
                if starting > taken:
                    starts.append((serves_at, starting - taken))
            ready -= drop
        p99 = response_quantile_s(rate, ready, service) * 1000.0
        if p99_target_ms is not None and p99 > p99_target_ms:
            over += 1
        load = rate / (ready * capacity) if ready else math.inf
        minute_cost = count * option.hourly / 60.0
        minutes.append(FleetMinute(rate, count, ready, load, p99, minute_cost))
        cost += minute_cost
    return FleetRun(tuple(minutes), cost, over)


@dataclass(frozen=True, slots=True)
class ServerlessService:
    """How the function performs (measured: ``bench.lambda_coldstart``).

    Attributes:
        latency_ms: a warm request's billed run time.
        p99_ms: a warm request's p99.
        cold_start_ms: what a cold start adds: init (imports, model load, warm-up).
        keep_alive_s: how long an idle environment is kept.
        images_per_request: images in one invocation.
    """

    latency_ms: float
    p99_ms: float
    cold_start_ms: float
    keep_alive_s: float = 600.0
    images_per_request: int = 1


@dataclass(frozen=True, slots=True)
class ServerlessMinute:
    rate: float
    concurrency: float
    environments: int
    cold_starts: float
    p99_ms: float
    cost: float


@dataclass(frozen=True, slots=True)
class ServerlessRun:
    minutes: tuple[ServerlessMinute, ...]
    cost: float
    cold_starts: float
    over_target: int


def simulate_serverless(
    day: Day,
    service: ServerlessService,
    option: Option,
    p99_target_ms: float | None = None,
) -> ServerlessRun:
    """The function over ``day``: environments, cold starts, cost and p99 per minute."""
    run_s = service.latency_ms / 1000.0
    init_s = service.cold_start_ms / 1000.0
    keep = max(1, round(service.keep_alive_s / 60))
    needed_recent: deque[int] = deque(maxlen=keep)
    minutes: list[ServerlessMinute] = []
    cost = 0.0
    colds = 0.0
    over = 0
    gb_second = option.memory_gb * option.per_gb_second
    for rate in day.rates:
        requests_per_s = rate / service.images_per_request
        concurrency = requests_per_s * run_s
        # The busiest moment of the minute: the Poisson count's 3-sigma high.
        needed = math.ceil(concurrency + 3 * math.sqrt(concurrency)) if concurrency > 0 else 0
        kept = max(needed_recent, default=0)
        new = max(0, needed - kept)
        expired = requests_per_s * 60.0 * math.exp(-requests_per_s * service.keep_alive_s)
        cold = new + expired
        needed_recent.append(max(needed, 1 if requests_per_s > 0 else 0))
        requests = requests_per_s * 60.0
        minute_cost = (requests * run_s + cold * init_s) * gb_second
        minute_cost += requests / 1e6 * option.per_million_requests
        cost += minute_cost
        cold_share = cold / requests if requests else 0.0
        p99 = service.p99_ms + (service.cold_start_ms if cold_share > 0.01 else 0.0)
        if p99_target_ms is not None and p99 > p99_target_ms and requests:
            over += 1
        minutes.append(
            ServerlessMinute(rate, concurrency, max(needed, kept), cold, p99, minute_cost)
        )
        colds += cold
    return ServerlessRun(tuple(minutes), cost, colds, over)
