"""Cost against monthly volume as a PNG (matplotlib, imported only here)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tensorgate.errors import ConfigError
from tensorgate.plan.cost import Capacity, Crossover, Traffic, priced
from tensorgate.plan.prices import PriceTable

__all__ = ["cost_chart"]


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
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("charts need matplotlib: pip install 'tensorgate[lab]'") from None
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
