"""Where images are decoded: on the instance thread just before its batch runs
(``--decode-on instance``) or in the decode pool as they arrive (``--decode-on pool``),
side by side, alternating, on the peers bench's load.

    .venv/bin/python -m bench.decode_on [--rounds 3] [--seconds 6] [--concurrency 1,8,32]

Each round starts one server per placement, in alternating order (EfficientNet-Lite0,
two instances × one thread, batches ≤ 8, no batching wait: the peers bench's
configuration), and loads it with ``tensorgate bench`` (closed loop, the same 1.5 MP JPEG
per request) at each concurrency. Prints each round's img/s · p50 · p99, the medians,
and the ratios instance / pool.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from bench.peers.__main__ import Knobs, _scratch_model
from bench.serving import jpeg_1_5mp
from tensorgate.bench.run import BenchConfig, run_bench
from tensorgate.server.process import spawn_server

MODEL = "efficientnet-lite0"
PLACEMENTS = ("pool", "instance")


def measure(
    repo: Path,
    placement: str,
    image: bytes,
    levels: tuple[float, ...],
    seconds: float,
    env: dict[str, str] | None = None,
) -> dict[float, tuple[float, float, float]]:
    """img/s, p50 ms and p99 ms at each concurrency, for one server."""
    out = {}
    args = ("--model", MODEL, "--log-level", "warning", "--no-access-log")
    with spawn_server(repo, *args, "--decode-on", placement, env=env) as server:
        config = BenchConfig(
            url=server.url, model=MODEL, payload="image", image=image, seconds=seconds,
            warmup_s=2.0, concurrency=levels,
        )  # fmt: skip
        for step in run_bench(config):
            if step.errors:
                raise SystemExit(f"{placement}: {step.errors} errors at {step.level:g}")
            out[step.level] = (step.images_per_s, step.latency.p50, step.latency.p99)
            print(
                f"  {placement} c{step.level:g}: server compute {step.server.compute_ms:.1f} ms "
                f"a batch of {step.server.batch_size:.1f}, queue {step.server.queue_ms:.1f} ms",
                file=sys.stderr,
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--concurrency", default="1,8,32")
    args = parser.parse_args()
    levels = tuple(float(x) for x in args.concurrency.split(","))
    image = jpeg_1_5mp()
    runs: dict[str, list[dict[float, tuple[float, float, float]]]] = {p: [] for p in PLACEMENTS}
    with tempfile.TemporaryDirectory(prefix="tensorgate-bench-decode-on-") as scratch:
        _scratch_model(Path(scratch), Knobs(workers=2, max_batch=8, delay_ms=0.0))
        repo = Path(scratch) / "repo"
        for round_ in range(args.rounds):
            order = PLACEMENTS if round_ % 2 == 0 else PLACEMENTS[::-1]
            for placement in order:
                result = measure(repo, placement, image, levels, args.seconds)
                runs[placement].append(result)
                cells = "  ".join(
                    f"c{level:g}: {ips:.1f} img/s · {p50:.1f} · {p99:.1f} ms"
                    for level, (ips, p50, p99) in result.items()
                )
                print(f"round {round_ + 1} {placement:>8}: {cells}", file=sys.stderr, flush=True)
    print(f"\n{args.rounds} rounds × {args.seconds:g} s per level; medians over the rounds\n")
    print("| concurrency | placement | img/s | p50 ms | p99 ms | p99 / p50 |")
    print("| --- | --- | --- | --- | --- | --- |")
    medians: dict[tuple[str, float], tuple[float, float, float]] = {}
    for level in levels:
        for placement in PLACEMENTS:
            cells = [r[level] for r in runs[placement]]
            ips, p50, p99 = (statistics.median(c[i] for c in cells) for i in range(3))
            medians[placement, level] = (ips, p50, p99)
            print(
                f"| {level:g} | {placement} | {ips:.1f} | {p50:.1f} | {p99:.1f} | {p99 / p50:.2f} |"
            )
    print("\ninstance / pool:")
    for level in levels:
        (a_ips, a_p50, a_p99), (b_ips, b_p50, b_p99) = (
            medians["instance", level],
            medians["pool", level],
        )
        print(
            f"- concurrency {level:g}: throughput ×{a_ips / b_ips:.2f}, p50 ×{a_p50 / b_p50:.2f}, "
            f"p99 ×{a_p99 / b_p99:.2f}"
        )


if __name__ == "__main__":
    main()
