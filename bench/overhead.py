"""Latency overhead at concurrency 1, with the machine's drift taken out by interleaving.

    .venv/bin/python -m bench.overhead [--seconds 20] [--forms uint8,onnx]

For each zoo form of EfficientNet-Lite0 (``uint8``: UINT8 pixels NHWC, ``onnx``:
normalised FP32 NCHW), one client takes turns, one call each, in an order that rotates
every cycle: raw onnxruntime (one single-thread session in this process), the floor
server (bench/floor_server.py: a bare uvloop + httptools V2 answerer, one thread hop),
tensorgate (the default server, an instance per core) with the pre-encoded request,
tensorgate through the official tritonclient, and a second tensorgate server with
``--no-infer-lane`` (the same request through ASGI and the route, server/infer.py). This machine's speed moves by ±5 % within
seconds, so separate runs of each cannot resolve a fraction of a millisecond; calls
taken in turn see the same machine.

Prints each one's p50 and its overhead: the median, over the cycles, of (its latency −
raw onnxruntime's in the same cycle). Goal (issue #22): tensorgate's overhead ≤ 1 ms.
The floor's overhead is what loopback, wake-ups and the client cost on this machine
with no serving layer at all.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.samples import binary_request, sample_batch
from bench.serving import session
from tensorgate.config import default_repository
from tensorgate.server.process import spawn_server
from tensorgate.zoo import pull

FORMS = {"uint8": ("efficientnet-lite0-uint8", "UINT8"), "onnx": ("efficientnet-lite0", "FP32")}
TARGETS = ("raw", "floor", "tensorgate", "tensorgate, tritonclient", "tensorgate, ASGI path")


@contextmanager
def floor_server(path: Path, datatype: str, sessions: int = 1) -> Iterator[tuple[str, int]]:
    """The floor server (bench/floor_server.py) on ``path``: its URL and process id."""
    command = [sys.executable, "-m", "bench.floor_server", str(path), datatype, str(sessions)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1]
    )
    try:
        assert process.stdout is not None
        yield str(json.loads(process.stdout.readline())["url"]), process.pid
    finally:
        process.kill()
        process.wait()


def posting(url: str, model: str, datatype: str) -> Callable[[], None]:
    """One pre-encoded binary V2 request over a kept-alive connection."""
    body, header_length = binary_request(1, datatype, model)
    headers = {
        "Inference-Header-Content-Length": str(header_length),
        "Content-Type": "application/octet-stream",
    }
    connection = http.client.HTTPConnection(url.removeprefix("http://"))

    def call() -> None:
        connection.request("POST", f"/v2/models/{model}/infer", body, headers)
        response = connection.getresponse()
        answer = response.read()
        if response.status != 200 or len(answer) < 4000:
            raise SystemExit(f"{url} answered {response.status}: {answer[:200]!r}")

    return call


def tritonclient_call(url: str, model: str, datatype: str) -> Callable[[], None]:
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url.removeprefix("http://"), network_timeout=60)
    batch = sample_batch(1, datatype, model)
    inp = httpclient.InferInput("input", list(batch.shape), datatype)
    inp.set_data_from_numpy(batch)
    out = httpclient.InferRequestedOutput("logits")

    def call() -> None:
        assert client.infer(model, [inp], outputs=[out]).as_numpy("logits").shape == (1, 1000)

    return call


def interleave(calls: dict[str, Callable[[], None]], seconds: float) -> dict[str, list[float]]:
    """Each call's latency per cycle (one call each, the order rotating), after warm-up."""
    names = list(calls)
    for _ in range(20):
        for name in names:
            calls[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    stop_at = time.perf_counter() + seconds
    cycle = 0
    while time.perf_counter() < stop_at:
        order = names[cycle % len(names) :] + names[: cycle % len(names)]
        for name in order:
            started = time.perf_counter()
            calls[name]()
            times[name].append(time.perf_counter() - started)
        cycle += 1
    return times


def measure(form: str, seconds: float) -> dict[str, dict[str, float]]:
    model, datatype = FORMS[form]
    repository = default_repository()
    pull(model.removesuffix("-uint8"), repository, fmt="uint8" if form == "uint8" else "onnx")
    path = repository / model / "1" / "model.onnx"
    raw = session(path)
    feed = {"input": sample_batch(1, datatype, model)}
    quiet = ("--log-level", "warning", "--no-access-log", "--grpc-port", "-1")
    with (
        floor_server(path, datatype) as (floor, _),
        spawn_server(repository, "--model", model, *quiet) as server,
        spawn_server(repository, "--model", model, *quiet, "--no-infer-lane") as asgi,
    ):
        times = interleave(
            {
                "raw": lambda: raw.run(None, feed) and None,
                "floor": posting(floor, model, datatype),
                "tensorgate": posting(server.url, model, datatype),
                "tensorgate, tritonclient": tritonclient_call(server.url, model, datatype),
                "tensorgate, ASGI path": posting(asgi.url, model, datatype),
            },
            seconds,
        )
    out = {}
    for name in TARGETS:
        paired = [t - r for t, r in zip(times[name], times["raw"], strict=False)]
        out[name] = {
            "p50 ms": statistics.median(times[name]) * 1000,
            "overhead ms": statistics.median(paired) * 1000,
            "cycles": float(len(times[name])),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--forms", default="uint8,onnx")
    args = parser.parse_args()
    results = {form: measure(form, args.seconds) for form in args.forms.split(",")}
    forms = list(results)
    print("| measure | " + " | ".join(FORMS[f][1] for f in forms) + " |")
    print("| --- |" + " --- |" * len(forms))
    for name in TARGETS:
        cells = [f"{results[f][name]['p50 ms']:.2f} ms" for f in forms]
        print(f"| {name} p50 | " + " | ".join(cells) + " |")
    for name in TARGETS[1:]:
        cells = [f"{results[f][name]['overhead ms']:.2f} ms" for f in forms]
        print(f"| **overhead**, {name} | " + " | ".join(cells) + " |")
    for form in forms:
        above = results[form]["tensorgate"]["overhead ms"] - results[form]["floor"]["overhead ms"]
        print(f"# {FORMS[form][1]}: tensorgate above the floor {above:.2f} ms", file=sys.stderr)
    print(f"# cycles: {int(results[forms[0]]['raw']['cycles'])} per form", file=sys.stderr)


if __name__ == "__main__":
    main()
