"""The tensor path, FP32 against UINT8 pixels, side by side in one run.

    .venv/bin/python -m bench.tensor_path [--rounds 2] [--seconds 8] [--concurrency 8]

Two forms of EfficientNet-Lite0 from the zoo: ``efficientnet-lite0`` (normalised FP32,
NCHW, 602 KB per image) and ``efficientnet-lite0-uint8`` (UINT8 pixels, NHWC, 150 KB;
the graph casts, transposes and normalises). For each, alternating in each round:

1. raw onnxruntime, the bound: p50 of one single-thread session at batch 1, and img/s of
   one single-thread session per core (pinned, as the server pins), batches 1, 4 and 8;
2. the server (one ``tensorgate serve`` with both models, an instance per core) from a
   separate load process: p50 at concurrency 1 with the official tritonclient and with
   the same request pre-encoded; img/s at saturation with both.

Prints each form's overhead (server p50 − raw p50) and efficiency (server img/s ÷ the
best raw img/s), medians over the rounds. Goals (issue #22): overhead ≤ 1 ms,
efficiency ≥ 0.95.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.samples import sample_batch
from bench.serving import loadgen, session
from tensorgate.config import default_repository
from tensorgate.server.process import spawn_server
from tensorgate.zoo import pull

FORMS = {"efficientnet-lite0": "FP32", "efficientnet-lite0-uint8": "UINT8"}
BATCHES = (1, 4, 8)


def raw_p50_ms(path: Path, model: str, runs: int = 200) -> float:
    s = session(path)
    feed = {"input": sample_batch(1, FORMS[model], model)}
    for _ in range(20):
        s.run(None, feed)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        s.run(None, feed)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def raw_rate(path: Path, model: str, batch: int, seconds: float) -> float:
    """img/s of one single-thread session per core, each on its own pinned thread."""
    cores = sorted(os.sched_getaffinity(0))
    sessions = [session(path) for _ in cores]
    feed = {"input": sample_batch(batch, FORMS[model], model)}
    for s in sessions:
        s.run(None, feed)
    counts = [0] * len(cores)
    stop_at = time.perf_counter() + seconds

    def drive(i: int) -> None:
        os.sched_setaffinity(0, {cores[i]})
        while time.perf_counter() < stop_at:
            sessions[i].run(None, feed)
            counts[i] += batch

    started = time.perf_counter()
    threads = [threading.Thread(target=drive, args=(i,)) for i in range(len(cores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - started)


def measure(repo: Path, model: str, url: str, concurrency: int, seconds: float) -> dict[str, float]:
    path = repo / model / "1" / "model.onnx"
    datatype = FORMS[model]
    out = {"raw p50": raw_p50_ms(path, model)}
    out["raw img/s"] = max(raw_rate(path, model, b, seconds / 2) for b in BATCHES)
    for mode in ("tensor", "prebuilt"):
        common = ("1", model, datatype)
        single = loadgen(mode, url, "1", str(seconds / 2), *common)
        out[f"{mode} p50"] = single["p50_ms"]
        loaded = loadgen(mode, url, str(concurrency), str(seconds), *common)
        out[f"{mode} img/s"] = loaded["images_per_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {m: [] for m in FORMS}
    with tempfile.TemporaryDirectory(prefix="tensorgate-bench-tensor-path-") as scratch:
        repo = Path(scratch)
        for model, fmt in zip(FORMS, ("onnx", "uint8"), strict=True):
            shutil.copytree(
                pull("efficientnet-lite0", default_repository(), fmt=fmt).directory, repo / model
            )
        served = [arg for model in FORMS for arg in ("--model", model)]
        with spawn_server(repo, *served, "--no-access-log", "--log-level", "warning") as server:
            for round_ in range(args.rounds):
                order = list(FORMS) if round_ % 2 == 0 else list(FORMS)[::-1]
                for model in order:
                    result = measure(repo, model, server.url, args.concurrency, args.seconds)
                    runs[model].append(result)
                    cells = "  ".join(f"{k} {v:.2f}" for k, v in result.items())
                    print(
                        f"round {round_ + 1} {FORMS[model]}: {cells}", file=sys.stderr, flush=True
                    )
    print(
        f"\n{args.rounds} rounds; concurrency 1 and {args.concurrency}; medians over the rounds\n"
    )
    print("| measure | FP32 (602 KB/image) | UINT8 (150 KB/image) |")
    print("| --- | --- | --- |")
    med = {m: {k: statistics.median(r[k] for r in runs[m]) for k in runs[m][0]} for m in FORMS}
    fp32, uint8 = (med[m] for m in FORMS)
    rows = [
        ("raw onnxruntime p50, batch 1, 1 thread", "raw p50", "{:.2f} ms"),
        ("server p50 at concurrency 1, tritonclient", "tensor p50", "{:.2f} ms"),
        ("server p50 at concurrency 1, pre-encoded", "prebuilt p50", "{:.2f} ms"),
        ("raw onnxruntime, a session per core (best of batch 1/4/8)", "raw img/s", "{:.1f} img/s"),
        (f"server, tritonclient, concurrency {args.concurrency}", "tensor img/s", "{:.1f} img/s"),
        (f"server, pre-encoded, concurrency {args.concurrency}", "prebuilt img/s", "{:.1f} img/s"),
    ]
    for label, key, form in rows:
        print(f"| {label} | {form.format(fp32[key])} | {form.format(uint8[key])} |")
    for client in ("tensor", "prebuilt"):
        name = "tritonclient" if client == "tensor" else "pre-encoded"
        overhead = [m[f"{client} p50"] - m["raw p50"] for m in (fp32, uint8)]
        efficiency = [m[f"{client} img/s"] / m["raw img/s"] for m in (fp32, uint8)]
        print(
            f"| **overhead**, {name} (goal ≤ 1 ms) | {overhead[0]:.2f} ms | {overhead[1]:.2f} ms |"
        )
        print(
            f"| **efficiency**, {name} (goal ≥ 0.95) | {efficiency[0]:.3f} | {efficiency[1]:.3f} |"
        )


if __name__ == "__main__":
    main()
