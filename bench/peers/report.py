"""The peers table, its ratios and its chart: pure functions of measured results, and the
one place that rewrites the section of docs/benchmarks.md between its markers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tensorgate.bench.run import Step

BEGIN = "<!-- peers:begin (written by python -m bench.peers) -->"
END = "<!-- peers:end -->"


@dataclass(frozen=True)
class Result:
    """One system's measurement in one run (``error`` when it could not be measured)."""

    key: str
    title: str
    run: int
    steps: tuple[Step, ...] = ()
    answer: str = ""
    error: str = ""
    startup_s: float = 0.0
    versions: dict[str, str] = field(default_factory=dict)

    def at(self, level: int) -> Step | None:
        return next((s for s in self.steps if s.mode == "closed" and s.level == level), None)


def _cell(step: Step | None, best: tuple[float, float]) -> str:
    """img/s · p50 · p99 ms, bold where it is ``best`` (highest img/s, lowest p99)."""
    if step is None or not step.requests:
        return "—"
    rate, p99 = f"{step.images_per_s:.1f}", f"{step.latency.p99:.1f}"
    if step.images_per_s == best[0]:
        rate = f"**{rate}**"
    if step.latency.p99 == best[1]:
        p99 = f"**{p99}**"
    return f"{rate} · {step.latency.p50:.1f} · {p99}"


def run_table(results: Sequence[Result], levels: Sequence[int]) -> list[str]:
    """One run: a row per system, a cell per concurrency level (img/s · p50 · p99 ms);
    the best throughput and the lowest p99 of each level in bold."""
    best: dict[int, tuple[float, float]] = {}
    for level in levels:
        steps = [s for r in results if (s := r.at(level)) is not None and s.requests]
        if steps:
            best[level] = (
                max(s.images_per_s for s in steps),
                min(s.latency.p99 for s in steps),
            )
    header = "| system | " + " | ".join(f"concurrency {c}" for c in levels)
    lines = [
        header + " | errors | answer |",
        "| --- " * (len(levels) + 3) + "|",
    ]
    for result in results:
        if result.error:
            lines.append(
                f"| {result.title} | "
                + " | ".join("—" for _ in levels)
                + f" | — | failed: {result.error[:120]} |"
            )
            continue
        cells = [_cell(result.at(c), best.get(c, (0.0, 0.0))) for c in levels]
        errors = sum(s.errors for s in result.steps)
        lines.append(
            f"| {result.title} | " + " | ".join(cells) + f" | {errors} | {result.answer} |"
        )
    return lines


def ratios(results: Sequence[Result], level: int, subject: str = "tensorgate") -> str:
    """tensorgate against the best other system at ``level``: throughput and p99."""
    own = next((r.at(level) for r in results if r.key == subject and not r.error), None)
    others = [
        (r.title, s)
        for r in results
        if r.key != subject and not r.error and (s := r.at(level)) is not None and s.requests
    ]
    if own is None or not own.requests or not others:
        return f"concurrency {level}: no comparison (tensorgate or every peer is missing)"
    fastest = max(others, key=lambda pair: pair[1].images_per_s)
    quickest = min(others, key=lambda pair: pair[1].latency.p99)
    return (
        f"concurrency {level}: throughput ×{own.images_per_s / fastest[1].images_per_s:.2f} "
        f"the best peer ({fastest[0]}, {fastest[1].images_per_s:.1f} img/s); "
        f"p99 ×{own.latency.p99 / quickest[1].latency.p99:.2f} "
        f"the lowest peer p99 ({quickest[0]}, {quickest[1].latency.p99:.1f} ms)"
    )


def section(
    results: Sequence[Result],
    levels: Sequence[int],
    *,
    command: str,
    machine: str,
    notes: dict[str, str],
    chart: str | None,
    date: str,
) -> str:
    """The whole docs section between the markers."""
    runs = sorted({r.run for r in results})
    keys = list(dict.fromkeys(r.key for r in results))
    first = {k: next(r for r in results if r.key == k) for k in keys}
    lines = [
        BEGIN,
        "",
        "```sh",
        command,
        "```",
        "",
        f"{date}; {machine}. Load generator and server on the same machine; the load is",
        "`tensorgate bench` (closed loop, one 1.5 MP JPEG per request, the same bytes for",
        "every system). Each cell: img/s · p50 ms · p99 ms; bold: the best of its column.",
        "",
        "| system | versions | configuration | start-up s |",
        "| --- | --- | --- | --- |",
    ]
    for key in keys:
        result = first[key]
        versions = ", ".join(f"{n} {v}" for n, v in result.versions.items())
        startups = " / ".join(f"{r.startup_s:.1f}" for r in results if r.key == key and not r.error)
        lines.append(f"| {result.title} | {versions} | {notes.get(key, '')} | {startups} |")
    for run in runs:
        in_run = [r for r in results if r.run == run]
        order = " → ".join(r.title for r in in_run)
        lines += ["", f"Run {run + 1} (in this order: {order}):", ""]
        lines += run_table(in_run, levels)
        lines += [""] + [f"- {ratios(in_run, level)}" for level in levels]
    if chart:
        lines += ["", f"![peers: throughput and p99 against concurrency]({chart})"]
    lines += ["", END]
    return "\n".join(lines)


def replace_section(document: str, new_section: str) -> str:
    """``document`` with the text between the markers replaced (appended if absent)."""
    start, end = document.find(BEGIN), document.find(END)
    if start == -1 or end == -1 or end < start:
        return document.rstrip("\n") + "\n\n" + new_section + "\n"
    return document[:start] + new_section + document[end + len(END) :]


def chart(path: Path, results: Sequence[Result], levels: Sequence[int], title: str) -> None:
    """Two panels against concurrency: throughput and p99; one colour per system,
    run 1 solid, run 2 dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    keys = list(dict.fromkeys(r.key for r in results))
    colours = {k: f"C{i}" for i, k in enumerate(keys)}
    for result in results:
        points = [(c, s) for c in levels if (s := result.at(c)) is not None and s.requests]
        if not points:
            continue
        style = "-" if result.run == 0 else "--"
        label = result.title if result.run == 0 else None
        xs = [c for c, _ in points]
        left.plot(xs, [s.images_per_s for _, s in points], style, marker="o",
                  color=colours[result.key], label=label)  # fmt: skip
        right.plot(xs, [s.latency.p99 for _, s in points], style, marker="o",
                   color=colours[result.key])  # fmt: skip
    for axis, ylabel in ((left, "images / s"), (right, "p99 latency, ms")):
        axis.set_xscale("log", base=2)
        axis.set_xticks(list(levels), [str(c) for c in levels])
        axis.set_xlabel("concurrent requests")
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3)
    right.set_yscale("log")
    left.legend(fontsize=8)
    figure.suptitle(title + " (solid: run 1, dashed: run 2)", fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
