"""The planner's charts as PNGs (matplotlib, imported only here): cost against monthly
volume, and a simulated day."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tensorgate.errors import ConfigError
from tensorgate.plan.autoscale import FleetRun, ServerlessRun
from tensorgate.plan.cost import Capacity, Crossover, Traffic, priced
from tensorgate.plan.day import Day
from tensorgate.plan.prices import PriceTable

__all__ = ["cost_chart", "day_chart"]


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("charts need matplotlib: pip install 'tensorgate[lab]'") from None
    return plt


def cost_chart(
    path: Path,
    table: PriceTable,
    capacities: Sequence[Capacity],
    traffic: Traffic,
    volumes: Sequence[float],
    crossings: Sequence[Crossover],
) -> None:
    """Draw each option's monthly cost over ``volumes`` (log-log), infeasible stretches
    dotted, the crossovers as vertical lines and the planned volume marked."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(9, 5.5), dpi=110)
    for capacity in capacities:
        option = table.option(capacity.option)
        costs = [priced(table, capacity, traffic.at(v)) for v in volumes]
        line = axes.plot(
            volumes,
            [c.monthly if c.feasible else float("nan") for c in costs],
            label=f"{option.name} ({option.kind})",
            linewidth=1.8,
        )[0]
        axes.plot(
            volumes,
            [c.monthly if not c.feasible else float("nan") for c in costs],
            linestyle=":",
            color=line.get_color(),
        )
    for crossing in crossings:
        if crossing.flips:
            axes.axvspan(crossing.volume, crossing.until, color="grey", alpha=0.15)
        else:
            axes.axvline(crossing.volume, color="grey", linewidth=0.8, linestyle="--")
        axes.annotate(
            f"{crossing.below} → {crossing.above}",
            (crossing.volume, 0.02),
            xycoords=("data", "axes fraction"),
            rotation=90,
            fontsize=7,
            color="grey",
            ha="right",
        )
    axes.axvline(traffic.images_per_month, color="black", linewidth=1.2)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("images per month")
    axes.set_ylabel(f"monthly cost ({table.currency})")
    axes.set_title(
        f"Monthly cost by volume — peak ×{traffic.peak_to_average:g}, headroom "
        f"{traffic.headroom:.0%}, ≥ {traffic.min_instances} instances; prices of {table.date}",
        fontsize=9,
    )
    axes.grid(True, which="both", linewidth=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def day_chart(
    path: Path,
    day: Day,
    fleet: FleetRun,
    serverless: ServerlessRun | None,
    p99_target_ms: float | None,
    currency: str,
) -> None:
    """Three panels over the day: traffic and instances; p99 per minute; cost per hour."""
    plt = _pyplot()
    hours = [m / 60 for m in range(day.minutes)]
    figure, (load, latency, cost) = plt.subplots(3, 1, figsize=(9, 8), dpi=110, sharex=True)
    load.plot(hours, day.rates, color="black", linewidth=1, label="images/s")
    load.set_ylabel("images/s")
    instances = load.twinx()
    instances.step(
        hours, [m.instances for m in fleet.minutes], where="post", color="tab:blue",
        label="fleet instances",
    )  # fmt: skip
    instances.step(
        hours, [m.ready for m in fleet.minutes], where="post", color="tab:blue",
        linestyle=":", label="ready",
    )  # fmt: skip
    if serverless is not None:
        instances.step(
            hours, [m.environments for m in serverless.minutes], where="post",
            color="tab:orange", label="function environments",
        )  # fmt: skip
    instances.set_ylabel("instances / environments")
    instances.legend(loc="upper left", fontsize=7)
    latency.plot(hours, [m.p99_ms for m in fleet.minutes], color="tab:blue", label="fleet p99")
    if serverless is not None:
        latency.plot(
            hours, [m.p99_ms for m in serverless.minutes], color="tab:orange",
            label="serverless p99",
        )  # fmt: skip
    if p99_target_ms is not None:
        latency.axhline(p99_target_ms, color="grey", linestyle="--", linewidth=0.8)
    latency.set_yscale("log")
    plain = plt.FuncFormatter(lambda value, _: f"{value:g}")
    latency.yaxis.set_major_formatter(plain)
    latency.yaxis.set_minor_formatter(
        plt.FuncFormatter(lambda value, _: f"{value:g}" if f"{value:g}"[0] in "25" else "")
    )
    latency.set_ylabel("p99 ms (model)")
    latency.legend(fontsize=7)
    buckets = range(0, day.minutes, 60)
    starts = [b / 60 for b in buckets]
    fleet_hourly = [sum(m.cost for m in fleet.minutes[b : b + 60]) for b in buckets]
    cost.bar(starts, fleet_hourly, width=0.4, align="edge", color="tab:blue", label="fleet")
    if serverless is not None:
        hourly = [sum(m.cost for m in serverless.minutes[b : b + 60]) for b in buckets]
        shifted = [s + 0.45 for s in starts]
        cost.bar(shifted, hourly, width=0.4, align="edge", color="tab:orange", label="serverless")
    cost.set_ylabel(f"cost per hour ({currency})")
    cost.set_xlabel("hour of the day")
    cost.legend(fontsize=7)
    for axes in (load, latency, cost):
        axes.grid(True, linewidth=0.3)
    load.set_title(day.source, fontsize=9)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
