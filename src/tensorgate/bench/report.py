"""Lay out, save and chart bench steps; derive the planner's capacity from them."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tensorgate.bench.run import Step, best_within
from tensorgate.errors import ConfigError

__all__ = ["capacity", "chart", "save", "table"]


def _ms(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.1f}"


def table(steps: Sequence[Step]) -> list[str]:
    """Markdown rows: load, throughput, client percentiles, the server's split, errors."""
    lines = [
        "| load | img/s | p50 ms | p90 ms | p99 ms | server queue ms | server compute ms "
        "| batch | errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in steps:
        load = f"concurrency {s.level:g}" if s.mode == "closed" else f"{s.level:g} req/s (Poisson)"
        lines.append(
            f"| {load} | {s.images_per_s:.1f} | {_ms(s.latency.p50)} | {_ms(s.latency.p90)} | "
            f"{_ms(s.latency.p99)} | {_ms(s.server.queue_ms)} | {_ms(s.server.compute_ms)} | "
            f"{_ms(s.server.batch_size)} | {s.errors} |"
        )
    return lines


def save(path: Path, steps: Sequence[Step]) -> None:
    """Write the steps as JSON (a list) or CSV, by the file's suffix."""
    records = [s.flat() for s in steps]
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(records, indent=2) + "\n", encoding="utf-8")
    elif path.suffix.lower() == ".csv":
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(records[0]) if records else ["mode"])
            writer.writeheader()
            writer.writerows(records)
    else:
        raise ConfigError(f"output {str(path)!r} must end in .json or .csv")


def capacity(steps: Sequence[Step], option: str, p99_target_ms: float | None) -> dict[str, Any]:
    """What ``tensorgate plan --measured`` reads: the best closed-loop throughput whose
    p99 meets the target (any, without one), and the p50 of a lone request (concurrency
    1) as the serverless billed duration."""
    best = best_within(steps, p99_target_ms)
    if best is None:
        raise ConfigError(
            f"no closed-loop step met the p99 target of {p99_target_ms} ms without errors; "
            "lower the concurrency levels or raise the target"
        )
    alone = best_within([s for s in steps if s.level == 1], None)
    record: dict[str, Any] = {
        "option": option,
        "images_per_s": round(best.images_per_s, 2),
        "p99_ms": round(best.latency.p99, 2),
        "at_concurrency": best.level,
    }
    if alone is not None:
        record["latency_ms"] = round(alone.latency.p50, 2)
    return record


def chart(path: Path, steps: Sequence[Step], title: str) -> None:
    """Throughput against p99 latency, one line per mode, each point labelled."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("charts need matplotlib: pip install 'tensorgate[lab]'") from None
    figure, axes = plt.subplots(figsize=(8, 5), dpi=110)
    for mode, label in (("closed", "concurrency"), ("open", "req/s")):
        points = [s for s in steps if s.mode == mode and s.requests]
        if not points:
            continue
        axes.plot(
            [s.images_per_s for s in points],
            [s.latency.p99 for s in points],
            marker="o",
            label=f"{mode} loop",
        )
        for s in points:
            axes.annotate(
                f"{s.level:g} {label}",
                (s.images_per_s, s.latency.p99),
                fontsize=7,
                xytext=(4, 4),
                textcoords="offset points",
            )
    axes.set_xlabel("images/s")
    axes.set_ylabel("p99 latency (ms)")
    axes.set_title(title, fontsize=9)
    axes.grid(True, linewidth=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
