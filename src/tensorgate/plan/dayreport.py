"""A simulated day: the planner's inputs turned into the fleet's and serverless' runs,
and as text: the settings, an hourly table of both, and the day's and month's totals."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tensorgate.errors import ConfigError
from tensorgate.plan.autoscale import (
    FleetRun,
    ScalingRule,
    ServerlessRun,
    ServerlessService,
    simulate_fleet,
    simulate_serverless,
)
from tensorgate.plan.cost import Capacity
from tensorgate.plan.day import Day
from tensorgate.plan.prices import Option, PriceTable
from tensorgate.plan.queueing import Service

__all__ = ["DAYS_PER_MONTH", "DayInputs", "DayResult", "render_day", "simulate_day"]

#: 365 / 12: a month of days, for the monthly figure.
DAYS_PER_MONTH = 365 / 12


@dataclass(frozen=True, slots=True)
class DayInputs:
    """What a day's simulation needs beyond the capacities and prices.

    Attributes:
        day: the traffic.
        rule: the fleet's autoscaling.
        service_ms: one request alone on a fleet instance, ``MS[@P99_MS]``.
        cold_start_ms: a serverless cold start.
        keep_alive_s: how long serverless keeps an idle environment.
        p99_target_ms: minutes over it are counted.
    """

    day: Day
    rule: ScalingRule
    service_ms: str | None
    cold_start_ms: float | None
    keep_alive_s: float = 600.0
    p99_target_ms: float | None = None


@dataclass(frozen=True, slots=True)
class DayResult:
    fleet: FleetRun
    serverless: ServerlessRun | None
    lines: list[str]


def _ms_pair(text: str) -> tuple[float, float]:
    mean_text, _, p99_text = text.partition("@")
    try:
        mean = float(mean_text)
        p99 = float(p99_text) if p99_text else mean
    except ValueError:
        mean, p99 = -1.0, -1.0
    if mean <= 0 or p99 < mean:
        raise ConfigError(f"--service-ms {text!r} is not MS[@P99_MS] with 0 < MS <= P99_MS")
    return mean, p99


def simulate_day(table: PriceTable, capacities: Sequence[Capacity], inputs: DayInputs) -> DayResult:
    """Run the first provisioned capacity as an autoscaled fleet over the day, and the
    first serverless one (when given, with its cold start) beside it.

    Raises:
        ConfigError: no provisioned capacity, or what a simulation needs is missing.
    """
    fleet_capacity = next(
        (c for c in capacities if table.option(c.option).kind != "serverless"), None
    )
    if fleet_capacity is None:
        raise ConfigError("a day's simulation scales a fleet: give --throughput OPTION=IMG_PER_S")
    if inputs.service_ms is None:
        raise ConfigError(
            "a day's simulation needs one request's latency on a fleet instance: "
            "--service-ms MS[@P99_MS] (tensorgate bench at concurrency 1)"
        )
    mean, p99 = _ms_pair(inputs.service_ms)
    service = Service.from_capacity(fleet_capacity.images_per_s, mean, p99)
    fleet_option = table.option(fleet_capacity.option)
    fleet = simulate_fleet(inputs.day, service, inputs.rule, fleet_option, inputs.p99_target_ms)
    sls_capacity = next(
        (c for c in capacities if table.option(c.option).kind == "serverless"), None
    )
    sls_option = function = serverless = None
    if sls_capacity is not None:
        if inputs.cold_start_ms is None:
            raise ConfigError(
                "serverless on a day needs its cold start: --cold-start-ms MS "
                "(python -m bench.lambda_coldstart)"
            )
        sls_option = table.option(sls_capacity.option)
        function = ServerlessService(
            sls_capacity.latency_ms,
            sls_capacity.p99_ms or sls_capacity.latency_ms,
            inputs.cold_start_ms,
            inputs.keep_alive_s,
            sls_capacity.images_per_request,
        )
        serverless = simulate_serverless(inputs.day, function, sls_option, inputs.p99_target_ms)
    lines = render_day(
        inputs.day, fleet_option, service, inputs.rule, fleet, sls_option, function,
        serverless, inputs.p99_target_ms,
    )  # fmt: skip
    return DayResult(fleet, serverless, lines)


def _ms(value: float) -> str:
    return "overloaded" if math.isinf(value) else f"{value:,.0f}"


def _hours(minutes: int) -> list[range]:
    return [range(start, min(start + 60, minutes)) for start in range(0, minutes, 60)]


def render_day(
    day: Day,
    fleet_option: Option,
    service: Service,
    rule: ScalingRule,
    fleet: FleetRun,
    serverless_option: Option | None,
    function: ServerlessService | None,
    serverless: ServerlessRun | None,
    p99_target_ms: float | None,
) -> list[str]:
    """The report's lines (Markdown tables)."""
    lines = [
        f"Day: {day.source}; {day.images:,.0f} images, mean {day.mean:,.1f} img/s, "
        f"peak {day.peak:,.1f} img/s",
        f"Fleet: {fleet_option.name}, {service.capacity:,.1f} img/s per instance "
        f"({service.servers} × {service.service_s * 1000:.1f} ms), autoscaled to "
        f"{rule.target_utilisation:.0%} utilisation, {rule.min_instances}–{rule.max_instances} "
        f"instances, up after {rule.scale_up_delay_s:g} s, down after "
        f"{rule.scale_down_window_s:g} s, {rule.startup_s:g} s to start",
    ]
    if function is not None and serverless_option is not None:
        lines.append(
            f"Serverless: {serverless_option.name}, {function.latency_ms:g} ms a warm request "
            f"(p99 {function.p99_ms:g} ms), cold start {function.cold_start_ms:g} ms, idle "
            f"environments kept {function.keep_alive_s:g} s"
        )
    lines.append("")
    header = "| hour | img/s | instances | fleet p99 ms | fleet USD |"
    rule_line = "| --- | --- | --- | --- | --- |"
    if serverless is not None:
        header += " cold starts | serverless p99 ms | serverless USD | cheaper |"
        rule_line += " --- | --- | --- | --- |"
    lines += [header, rule_line]
    for index, hour in enumerate(_hours(day.minutes)):
        rate = sum(day.rates[m] for m in hour) / len(hour)
        instances = [fleet.minutes[m].instances for m in hour]
        fleet_cost = sum(fleet.minutes[m].cost for m in hour)
        p99 = max(fleet.minutes[m].p99_ms for m in hour)
        low, high = min(instances), max(instances)
        span = f"{low}" if low == high else f"{low}–{high}"
        row = f"| {index:02d}:00 | {rate:,.1f} | {span} | {_ms(p99)} | {fleet_cost:.3f} |"
        if serverless is not None:
            colds = sum(serverless.minutes[m].cold_starts for m in hour)
            s_p99 = max(serverless.minutes[m].p99_ms for m in hour)
            s_cost = sum(serverless.minutes[m].cost for m in hour)
            cheaper = "serverless" if s_cost < fleet_cost else "fleet"
            row += f" {colds:,.1f} | {_ms(s_p99)} | {s_cost:.3f} | {cheaper} |"
        lines.append(row)
    lines.append("")
    target = (
        f" (p99 over {p99_target_ms:g} ms in {fleet.over_target} minutes)"
        if (p99_target_ms is not None)
        else ""
    )
    lines.append(
        f"Fleet: {fleet.cost:,.2f} USD a day, {fleet.cost * DAYS_PER_MONTH:,.2f} a month; "
        f"peak {fleet.peak_instances} instances{target}"
    )
    if serverless is not None:
        target = (
            f" (p99 over {p99_target_ms:g} ms in {serverless.over_target} minutes)"
            if (p99_target_ms is not None)
            else ""
        )
        lines.append(
            f"Serverless: {serverless.cost:,.2f} USD a day, "
            f"{serverless.cost * DAYS_PER_MONTH:,.2f} a month; "
            f"{serverless.cold_starts:,.0f} cold starts{target}"
        )
        cheaper_hours = sum(
            1
            for hour in _hours(day.minutes)
            if sum(serverless.minutes[m].cost for m in hour)
            < sum(fleet.minutes[m].cost for m in hour)
        )
        lines.append(
            f"Serverless is the cheaper in {cheaper_hours} of {len(_hours(day.minutes))} hours."
        )
    return lines
