"""The tensor path, FP32 against UINT8 pixels, side by side in one run.

    .venv/bin/python -m bench.tensor_path [--rounds 2] [--seconds 8] [--concurrency 8]

Two forms of EfficientNet-Lite0 from the zoo: ``efficientnet-lite0`` (normalised FP32,
NCHW, 602 KB per image) and ``efficientnet-lite0-uint8`` (UINT8 pixels, NHWC, 150 KB;
the graph casts, transposes and normalises). For each, alternating in each round:

1. raw onnxruntime, the bound: p50 of one single-thread session at batch 1; img/s of
   one single-thread session per core (pinned, as the server pins), best of batches 1,
   4 and 8; img/s of one pinned session at batch 1;
2. a server with an instance per core (the default), from separate load processes: p50
   at concurrency 1 with the official tritonclient and with the same request
   pre-encoded (gevent); img/s at the given concurrency with tritonclient, and with the
   pre-encoded request from `hey` (native: the load takes little of the two cores);
3. a server with one instance, so that one core computes and the other serves (and
   loads): img/s from `hey` at concurrency 4, against the one pinned session;
4. the floor (bench/floor_server.py: bare uvloop + httptools, no framework, batching,
   checks or metrics) with a pinned session per core: img/s from `hey` at the given
   concurrency, and its event loop's CPU per request: what any Python server with a
   thread hop keeps of raw onnxruntime on these cores.

Prints each form's overhead (server p50 − raw p50) and efficiencies (server img/s ÷ the
raw img/s on the same cores), medians over the rounds. Goals (issue #22): overhead
≤ 1 ms, efficiency ≥ 0.95.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.overhead import floor_server
from bench.samples import binary_request, sample_batch
from bench.serving import feed_p50_ms, loadgen, session
from bench.workers import hey_run
from tensorgate.config import default_repository
from tensorgate.server.process import ServerProcess, spawn_server
from tensorgate.zoo import pull

FORMS = {"efficientnet-lite0": "FP32", "efficientnet-lite0-uint8": "UINT8"}
BATCHES = (1, 4, 8)


def raw_p50_ms(path: Path, model: str, runs: int = 200) -> float:
    return feed_p50_ms(path, {"input": sample_batch(1, FORMS[model], model)}, runs)


def raw_rate(
    path: Path, model: str, batch: int, seconds: float, sessions: int | None = None
) -> float:
    """img/s of one single-thread session per core (or of ``sessions``), each on its own
    pinned thread."""
    cores = sorted(os.sched_getaffinity(0))[:sessions]
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


def encoded_request(model: str, folder: Path) -> tuple[Path, int]:
    """One image's binary V2 request in a file, and its JSON header's length."""
    body, header_length = binary_request(1, FORMS[model], model)
    path = folder / f"{model}.bin"
    path.write_bytes(body)
    return path, header_length


def hey_rate(
    url: str, model: str, body: tuple[Path, int], concurrency: int, seconds: float
) -> float:
    """Requests/s of `hey` posting the pre-encoded request; every answer must be 200."""
    header = f"Inference-Header-Content-Length: {body[1]}"
    target = f"{url}/v2/models/{model}/infer"
    rate, _ = hey_run(target, body[0], "application/octet-stream", concurrency, seconds, (header,))
    return rate


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds so far of a process's event-loop thread (its main thread) and of all
    its other threads (on the tensor path: the inference threads), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {"loop": 0.0, "instances": 0.0}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{task}/stat").read_text()
        except FileNotFoundError:  # the thread ended
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        used = (int(fields[11]) + int(fields[12])) / tick
        if int(task) == pid:
            out["loop"] += used
        else:
            out["instances"] += used
    return out


def measure(
    repo: Path,
    model: str,
    servers: tuple[ServerProcess, ServerProcess],
    floor: tuple[str, int],
    body: tuple[Path, int],
    c: int,
    seconds: float,
) -> dict[str, float]:
    path = repo / model / "1" / "model.onnx"
    datatype = FORMS[model]
    default, single = (s.url for s in servers)
    out = {"raw p50": raw_p50_ms(path, model)}
    out["raw img/s"] = max(raw_rate(path, model, b, seconds / 2) for b in BATCHES)
    out["raw 1 img/s"] = raw_rate(path, model, 1, seconds / 2, sessions=1)
    common = ("1", model, datatype)
    for mode in ("tensor", "prebuilt"):
        out[f"{mode} p50"] = loadgen(mode, default, "1", str(seconds / 2), *common)["p50_ms"]
    out["tensor img/s"] = loadgen("tensor", default, str(c), str(seconds), *common)["images_per_s"]
    hey_rate(default, model, body, c, 1.0)  # warm-up
    pid = servers[0].process.pid
    before, started = thread_cpu(pid), time.perf_counter()
    out["hey img/s"] = hey_rate(default, model, body, c, seconds)
    after, elapsed = thread_cpu(pid), time.perf_counter() - started
    for part in ("loop", "instances"):
        out[f"{part} cores"] = (after[part] - before[part]) / elapsed
    out["loop ms/request"] = out["loop cores"] / out["hey img/s"] * 1000
    hey_rate(single, model, body, 4, 1.0)
    out["hey 1 img/s"] = hey_rate(single, model, body, 4, seconds)
    hey_rate(floor[0], model, body, c, 1.0)
    before, started = thread_cpu(floor[1]), time.perf_counter()
    out["floor img/s"] = hey_rate(floor[0], model, body, c, seconds)
    after, elapsed = thread_cpu(floor[1]), time.perf_counter() - started
    out["floor loop ms/request"] = (
        (after["loop"] - before["loop"]) / elapsed / out["floor img/s"] * 1000
    )
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
        bodies = {model: encoded_request(model, repo) for model in FORMS}
        served = [arg for model in FORMS for arg in ("--model", model)]
        quiet = ("--no-access-log", "--log-level", "warning")
        cores = len(os.sched_getaffinity(0))
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(spawn_server(repo, *served, *quiet))
            one = stack.enter_context(spawn_server(repo, *served, *quiet, "--instances", "1"))
            floors = {
                model: stack.enter_context(
                    floor_server(repo / model / "1" / "model.onnx", FORMS[model], cores)
                )
                for model in FORMS
            }
            for round_ in range(args.rounds):
                order = list(FORMS) if round_ % 2 == 0 else list(FORMS)[::-1]
                for model in order:
                    result = measure(
                        repo, model, (server, one), floors[model], bodies[model],
                        args.concurrency, args.seconds,
                    )  # fmt: skip
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
    c = args.concurrency
    rows = [
        ("raw onnxruntime p50, batch 1, 1 thread", "raw p50", "{:.2f} ms"),
        ("server p50 at concurrency 1, tritonclient", "tensor p50", "{:.2f} ms"),
        ("server p50 at concurrency 1, pre-encoded", "prebuilt p50", "{:.2f} ms"),
        ("raw onnxruntime, a session per core (best of batch 1/4/8)", "raw img/s", "{:.1f} img/s"),
        (f"server, an instance per core, tritonclient, concurrency {c}", "tensor img/s", "{:.1f} img/s"),
        (f"server, an instance per core, hey, concurrency {c}", "hey img/s", "{:.1f} img/s"),
        ("… the event loop's CPU (cores)", "loop cores", "{:.3f}"),
        ("… the event loop's CPU per request", "loop ms/request", "{:.2f} ms"),
        ("… the other (inference) threads' CPU (cores)", "instances cores", "{:.3f}"),
        ("raw onnxruntime, one pinned session, batch 1", "raw 1 img/s", "{:.1f} img/s"),
        ("server, one instance, hey, concurrency 4", "hey 1 img/s", "{:.1f} img/s"),
        (f"the floor, a session per core, hey, concurrency {c}", "floor img/s", "{:.1f} img/s"),
        ("… the floor's event loop's CPU per request", "floor loop ms/request", "{:.2f} ms"),
    ]  # fmt: skip
    for label, key, form in rows:
        print(f"| {label} | {form.format(fp32[key])} | {form.format(uint8[key])} |")
    for client in ("tensor", "prebuilt"):
        name = "tritonclient" if client == "tensor" else "pre-encoded"
        overhead = [m[f"{client} p50"] - m["raw p50"] for m in (fp32, uint8)]
        print(
            f"| **overhead**, {name} (goal ≤ 1 ms) | {overhead[0]:.2f} ms | {overhead[1]:.2f} ms |"
        )
    ratios = [
        ("an instance per core, tritonclient", "tensor img/s", "raw img/s"),
        ("an instance per core, hey", "hey img/s", "raw img/s"),
        ("one instance, a core to serve, hey", "hey 1 img/s", "raw 1 img/s"),
        ("the floor (no serving layer), a session per core, hey", "floor img/s", "raw img/s"),
    ]
    for label, server_key, raw_key in ratios:
        a, b = (m[server_key] / m[raw_key] for m in (fp32, uint8))
        print(f"| **efficiency**, {label} (goal ≥ 0.95) | {a:.3f} | {b:.3f} |")


if __name__ == "__main__":
    main()
