"""Parsing the planner's command-line figures and laying out its answer (pure text)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from tensorgate.errors import ConfigError
from tensorgate.plan.cost import Capacity, Crossover, Traffic, cheapest_of, priced
from tensorgate.plan.prices import PriceTable

__all__ = [
    "decades",
    "format_count",
    "gather_capacities",
    "parse_capacity",
    "parse_count",
    "parse_volumes",
    "read_measured",
    "render",
    "sweep",
]

_SUFFIXES = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}


def parse_count(text: str) -> float:
    """``50M`` → 5e7; also ``500k``, ``1.5B``, ``2e9``, ``1,000,000``."""
    cleaned = text.strip().replace(",", "").replace("_", "")
    scale = _SUFFIXES.get(cleaned[-1:].lower(), 1.0)
    number = cleaned[:-1] if scale != 1.0 else cleaned
    try:
        value = float(number) * scale
    except ValueError:
        raise ConfigError(f"{text!r} is not a count; write e.g. 50M, 1.5B or 2e9") from None
    if value < 0:
        raise ConfigError(f"{text!r} is negative; a count is ≥ 0")
    return value


def parse_volumes(text: str) -> tuple[float, float]:
    """``1M..10B`` → (1e6, 1e10): the range of monthly volumes a report covers."""
    low_text, _, high_text = text.partition("..")
    low, high = parse_count(low_text), parse_count(high_text or low_text)
    if not 0 < low < high:
        raise ConfigError(f"--volumes {text!r} must be LOW..HIGH with 0 < LOW < HIGH")
    return low, high


def decades(low: float, high: float) -> list[float]:
    """The table's rows: ``low``, 10 × ``low``, … up to ``high``."""
    return [low * 10**i for i in range(20) if low * 10**i <= high]


def sweep(low: float, high: float, points: int = 201) -> list[float]:
    """``points`` volumes spaced evenly on a log scale from ``low`` to ``high`` (a chart)."""
    return [low * (high / low) ** (i / (points - 1)) for i in range(points)]


def format_count(value: float) -> str:
    """5e7 → ``50M``."""
    for suffix, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def parse_capacity(text: str, *, serverless: bool) -> Capacity:
    """``OPTION=IMG_PER_S[@P99_MS]`` (or ``OPTION=LATENCY_MS[@P99_MS]`` for serverless)."""
    name, sep, figures = text.partition("=")
    value, _, p99 = figures.partition("@")
    try:
        number = float(value)
        p99_ms = float(p99) if p99 else None
    except ValueError:
        number = -1.0
        p99_ms = None
    if not sep or not name or number <= 0:
        shape = "OPTION=LATENCY_MS[@P99_MS]" if serverless else "OPTION=IMAGES_PER_S[@P99_MS]"
        raise ConfigError(f"{text!r} is not {shape}; e.g. c7i.large=110@180")
    if serverless:
        return Capacity(name, latency_ms=number, p99_ms=p99_ms)
    return Capacity(name, images_per_s=number, p99_ms=p99_ms)


def gather_capacities(
    table: PriceTable, measured: Path | None, throughput: Sequence[str], latency: Sequence[str]
) -> list[Capacity]:
    """Every option's capacity: from a measured JSON file, ``OPTION=IMG_PER_S`` and
    serverless ``OPTION=MS`` texts; each option must be in the price table.

    Raises:
        ConfigError: none given, a text that does not parse, an option not priced.
    """
    capacities = read_measured(measured) if measured else []
    capacities += [parse_capacity(t, serverless=False) for t in throughput]
    capacities += [parse_capacity(t, serverless=True) for t in latency]
    if not capacities:
        raise ConfigError(
            "give at least one option's capacity: --throughput OPTION=IMG_PER_S, "
            "--latency OPTION=MS (serverless) or --measured FILE"
        )
    for capacity in capacities:
        table.option(capacity.option)  # unknown names fail here, listing the table
    return capacities


def read_measured(path: Path) -> list[Capacity]:
    """Capacities from a JSON file: a list (or one) of ``{"option", "images_per_s",
    "latency_ms", "p99_ms", "images_per_request"}`` — what ``tensorgate bench`` writes."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not JSON: {exc}") from None
    entries = document if isinstance(document, list) else [document]
    capacities = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("option"), str):
            raise ConfigError(f"{path}: each entry needs an 'option' name (got {entry!r:.80})")
        try:
            capacities.append(
                Capacity(
                    option=entry["option"],
                    images_per_s=float(entry.get("images_per_s", 0.0)),
                    latency_ms=float(entry.get("latency_ms", 0.0)),
                    p99_ms=None if entry.get("p99_ms") is None else float(entry["p99_ms"]),
                    images_per_request=int(entry.get("images_per_request", 1)),
                    source=f"measured: {path.name}",
                )
            )
        except (TypeError, ValueError):
            raise ConfigError(
                f"{path}: entry {entry!r:.80} has a figure that is not a number"
            ) from None
    return capacities


def render(
    table: PriceTable,
    capacities: Sequence[Capacity],
    traffic: Traffic,
    volumes: Sequence[float],
    crossings: Sequence[Crossover],
) -> list[str]:
    """The answer as Markdown lines: the month at the planned volume, cost by volume,
    the crossovers."""
    money = table.currency
    peak = traffic.images_per_month / (table.hours_per_month * 3600) * traffic.peak_to_average
    lines = [
        f"Plan for {format_count(traffic.images_per_month)} images/month "
        f"(peak {peak:,.1f} img/s = ×{traffic.peak_to_average:g} the average; headroom "
        f"{traffic.headroom:.0%}; ≥ {traffic.min_instances} instances"
        + (f"; p99 ≤ {traffic.p99_target_ms:g} ms" if traffic.p99_target_ms else "")
        + f"), prices of {table.date} ({table.source})",
        "",
        f"| option | kind | capacity (source) | at peak | {money}/month | |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    costs = []
    for capacity in capacities:
        option = table.option(capacity.option)
        cost = priced(table, capacity, traffic)
        costs.append(cost)
        figure = (
            f"{capacity.latency_ms:g} ms/request"
            if option.kind == "serverless"
            else f"{capacity.images_per_s:,.1f} img/s"
        )
        if capacity.p99_ms is not None:
            figure += f", p99 {capacity.p99_ms:g} ms"
        lines.append(
            f"| {option.name} | {option.kind} | {figure} ({capacity.source}) | {cost.note} | "
            f"{cost.monthly:,.2f} | {'' if cost.feasible else 'infeasible'} |"
        )
    best = cheapest_of(costs)
    if best is not None:
        lines += ["", f"Cheapest: {best.option}, {best.monthly:,.2f} {money}/month."]
    header = "| images/month | " + " | ".join(c.option for c in capacities) + " |"
    lines += ["", header, "|" + " --- |" * (len(capacities) + 1)]
    for volume in volumes:
        cells = []
        for capacity in capacities:
            cost = priced(table, capacity, traffic.at(volume))
            cells.append(f"{cost.monthly:,.0f}" + ("" if cost.feasible else " ✗"))
        lines.append(f"| {format_count(volume)} | " + " | ".join(cells) + " |")
    lines.append("")
    if crossings:
        lines.append("Crossovers (where the cheapest option changes):")
        for c in crossings:
            if not c.flips:
                lines.append(f"- {format_count(c.volume)} images/month: {c.below} → {c.above}")
            elif c.below == c.above:
                lines.append(
                    f"- {format_count(c.volume)}–{format_count(c.until)} images/month: "
                    f"{c.between} is cheaper in stretches as instances step up; "
                    f"{c.below} again above"
                )
            else:
                lines.append(
                    f"- {format_count(c.volume)}–{format_count(c.until)} images/month: "
                    f"{c.below} → {c.above} (they alternate in between as instances step up)"
                )
    else:
        lines.append("No crossover: one option is cheapest across the whole range.")
    return lines
