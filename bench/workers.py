"""One server process against ``serve --workers 2``, side by side, alternating.

    .venv/bin/python -m bench.workers [--rounds 2] [--seconds 8] [--concurrency 32]

Each round starts one server per mode, in alternating order: one process (two instances
of EfficientNet-Lite0, one per core, the default) and two workers (each pinned to one
core with one instance). `hey` (native, so the load costs little of the two cores) posts
at the given concurrency:

- ``tiny``: the 16-float ``add_sub_fp32`` model as V2 JSON, where the per-request Python
  work (HTTP, parsing, batching, the answer) is all there is: GIL-bound in one process.
- ``jpeg``: a 1.5 MP JPEG to ``/classify``, where decoding and inference dominate.

Prints each round's requests/s and p99, the medians, and the ratios two workers / one
process. Two cores are as far as this machine goes: docs/perf.md has the model above it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from bench.fixtures import lite0_repository
from bench.overload import ensure_hey, hey
from bench.serving import jpeg_1_5mp
from tensorgate.server.process import spawn_server

MODES = {"1 process": (), "2 workers": ("--workers", "2")}
LOADS = ("tiny", "jpeg")


def hey_run(
    url: str,
    body: Path,
    content_type: str,
    concurrency: int,
    seconds: float,
    headers: tuple[str, ...] = (),
) -> tuple[float, float]:
    """Requests/s and p99 ms of one `hey` run (``headers``: "Name: value" each); every
    answer must be 200."""
    binary = ensure_hey()
    args = ["-c", str(concurrency), "-z", f"{seconds:g}s"]
    for header in headers:
        args += ["-H", header]
    answers = hey(binary, url, body, args, content_type)
    if not answers or any(status != 200 for status, _ in answers):
        raise SystemExit(f"hey against {url} got no answer or an error: {answers[:5]}")
    times = sorted(t for _, t in answers)
    return len(answers) / seconds, times[int(0.99 * (len(times) - 1))] * 1000


def measure(
    repo: Path, mode: str, bodies: dict[str, Path], concurrency: int, seconds: float
) -> dict[str, tuple[float, float]]:
    # Batches up to 16: the queue bound (2 × batch × instances) then admits 32 requests
    # in flight in each mode, although a worker has one instance.
    args = ("--model", "efficientnet-lite0", "--model", "add_sub_fp32", "--max-batch-size", "16")
    quiet = ("--log-level", "warning", "--no-access-log")
    out = {}
    with spawn_server(repo, *args, *quiet, *MODES[mode]) as server:
        targets = {
            "tiny": (f"{server.url}/v2/models/add_sub_fp32/infer", "application/json"),
            "jpeg": (f"{server.url}/v2/models/efficientnet-lite0/classify?top_k=1", "image/jpeg"),
        }
        for load in LOADS:
            url, kind = targets[load]
            hey_run(url, bodies[load], kind, concurrency, min(2.0, seconds / 4))  # warm-up
            out[load] = hey_run(url, bodies[load], kind, concurrency, seconds)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, tuple[float, float]]]] = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory(prefix="tensorgate-bench-workers-") as scratch:
        folder = Path(scratch)
        repo = lite0_repository(folder, tensors=True)
        bodies = {"tiny": folder / "tiny.json", "jpeg": folder / "photo.jpg"}
        tiny = [{"name": n, "shape": [1, 16], "datatype": "FP32", "data": [0.5] * 16}
                for n in ("INPUT0", "INPUT1")]  # fmt: skip
        bodies["tiny"].write_text(json.dumps({"inputs": tiny}))
        bodies["jpeg"].write_bytes(jpeg_1_5mp())
        for round_ in range(args.rounds):
            order = list(MODES) if round_ % 2 == 0 else list(MODES)[::-1]
            for mode in order:
                result = measure(repo, mode, bodies, args.concurrency, args.seconds)
                runs[mode].append(result)
                cells = "  ".join(
                    f"{k}: {r:.1f}/s · p99 {p:.1f} ms" for k, (r, p) in result.items()
                )
                print(f"round {round_ + 1} {mode:>9}: {cells}", file=sys.stderr, flush=True)
    print(
        f"\n{args.rounds} rounds × {args.seconds:g} s, concurrency {args.concurrency}, "
        "hey; medians over the rounds\n"
    )
    print("| load | mode | requests/s | p99 ms |")
    print("| --- | --- | --- | --- |")
    medians: dict[tuple[str, str], tuple[float, float]] = {}
    for load in LOADS:
        for mode in MODES:
            rate = statistics.median(r[load][0] for r in runs[mode])
            p99 = statistics.median(r[load][1] for r in runs[mode])
            medians[load, mode] = (rate, p99)
            print(f"| {load} | {mode} | {rate:.1f} | {p99:.1f} |")
    print("\n2 workers / 1 process:")
    for load in LOADS:
        (w_rate, w_p99), (p_rate, p_p99) = medians[load, "2 workers"], medians[load, "1 process"]
        print(f"- {load}: throughput ×{w_rate / p_rate:.2f}, p99 ×{w_p99 / p_p99:.2f}")


if __name__ == "__main__":
    main()
