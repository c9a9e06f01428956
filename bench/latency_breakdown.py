"""Where the time of one request goes, at concurrency 1 (an instrumented in-process server).

    .venv/bin/python -m bench.latency_breakdown [--seconds 5] [--format onnx|uint8]

Serves efficientnet-lite0 from the default repository in this process, as
``tensorgate serve`` does (its HTTP protocol and the infer lane, server/lane.py), with
timestamps at each step of a request, drives it with pre-encoded binary requests from
bench/loadgen.py in another process, and prints the median time of each step.
"""

from __future__ import annotations

import argparse
import itertools
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn

import tensorgate.batching.batcher as batcher_module
import tensorgate.batching.threads as threads_module
import tensorgate.server.infer as infer_module
import tensorgate.server.lane as lane_module
from tensorgate import Engine, EngineSettings
from tensorgate.config import ServerSettings, default_repository
from tensorgate.server.app import create_app
from tensorgate.server.protocol import GuardedHttp
from tensorgate.zoo import pull

#: (step, what ends at it)
STEPS = [
    ("head", "the request's headers are parsed"),
    ("body", "its body is in"),
    ("run", "the request's task starts"),
    ("submit", "parsed and checked: queued in the batcher"),
    ("dispatch", "a worker hands the batch to the instance thread"),
    ("thread", "the instance thread starts it"),
    ("inferred", "onnxruntime is done (outputs cut per request)"),
    ("answer_in", "the event loop takes the answers"),
    ("answer_out", "statistics kept, the request's future set"),
    ("resumed", "the request's task has its encoded answer"),
    ("written", "the answer is written to the socket"),
]


def instrument(current: dict[str, float], rows: list[dict[str, float]]) -> None:
    """Timestamps at each step (module functions wrapped in place)."""
    names = [name for name, _ in STEPS]

    def stamp(name: str) -> None:
        current.setdefault(name, time.perf_counter())

    lane_init = lane_module.LaneRequest.__init__

    def init(self: Any, *a: Any, **k: Any) -> None:
        current.clear()
        stamp("head")
        lane_init(self, *a, **k)

    complete = lane_module.LaneRequest.complete

    def completed(self: Any) -> None:
        stamp("body")
        complete(self)

    infer_answer = infer_module.infer_answer

    async def answered(*a: Any, **k: Any) -> Any:
        stamp("run")
        result = await infer_answer(*a, **k)
        stamp("resumed")
        return result

    submit = batcher_module.Batcher.submit

    def submitted(self: Any, *a: Any, **k: Any) -> Any:
        stamp("submit")
        return submit(self, *a, **k)

    thread_submit = threads_module.InstanceThread.submit

    def dispatched(self: Any, fn: Callable[[Any], Any], arg: Any) -> Any:
        stamp("dispatch")

        def started(x: Any) -> Any:
            stamp("thread")
            return fn(x)

        return thread_submit(self, started, arg)

    infer_batch = batcher_module._infer_batch

    def inferred(*a: Any, **k: Any) -> Any:
        out = infer_batch(*a, **k)
        stamp("inferred")
        return out

    answer = batcher_module.Batcher._answer

    def answering(self: Any, *a: Any, **k: Any) -> None:
        stamp("answer_in")
        answer(self, *a, **k)
        stamp("answer_out")

    write = lane_module.LaneRequest._write

    def written(self: Any, *a: Any, **k: Any) -> None:
        write(self, *a, **k)
        stamp("written")
        if all(name in current for name in names):
            rows.append(dict(current))

    lane_module.LaneRequest.__init__ = init  # type: ignore[method-assign]
    lane_module.LaneRequest.complete = completed  # type: ignore[method-assign]
    vars(lane_module)["infer_answer"] = answered  # as the lane imported it
    batcher_module.Batcher.submit = submitted  # type: ignore[method-assign]
    threads_module.InstanceThread.submit = dispatched  # type: ignore[method-assign]
    batcher_module._infer_batch = inferred
    batcher_module.Batcher._answer = answering  # type: ignore[method-assign]
    lane_module.LaneRequest._write = written  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--format", choices=("onnx", "uint8"), default="onnx", help="FP32 tensors or UINT8 pixels"
    )
    args = parser.parse_args()
    model = pull("efficientnet-lite0", default_repository(), fmt=args.format).directory.name
    datatype = "FP32" if args.format == "onnx" else "UINT8"

    current: dict[str, float] = {}
    rows: list[dict[str, float]] = []
    instrument(current, rows)
    engine = Engine(EngineSettings(repository=default_repository(), models=(model,), instances=2))
    settings = ServerSettings(access_log=False)
    protocol = type("Lane", (GuardedHttp,), {"lane": lane_module.InferLane(engine, settings)})
    config = uvicorn.Config(
        create_app(engine, settings), loop="uvloop", http=protocol, log_level="warning"
    )
    server = uvicorn.Server(config)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    client: dict[str, str] = {}

    def drive() -> None:
        while not server.started:
            time.sleep(0.05)
        load = ["prebuilt", f"http://127.0.0.1:{port}", "1", str(args.seconds), "1"]
        out = subprocess.run(
            [sys.executable, "-m", "bench.loadgen", *load, model, datatype],
            cwd=Path(__file__).resolve().parents[1],
            capture_output=True,
            text=True,
        )
        client["out"] = out.stdout.strip()
        server.should_exit = True

    threading.Thread(target=drive).start()
    server.run(sockets=[sock])
    complete = rows[20:]
    if not complete:
        raise SystemExit(f"no request went through the lane; the client said {client}")
    print(f"client: {client.get('out')}")
    print("| step | ends when | median ms |")
    print("| --- | --- | --- |")
    for (a, _), (b, what) in itertools.pairwise(STEPS):
        median = statistics.median(r[b] - r[a] for r in complete) * 1e3
        print(f"| {a} → {b} | {what} | {median:.3f} |")
    first, last = STEPS[0][0], STEPS[-1][0]
    total = statistics.median(r[last] - r[first] for r in complete) * 1e3
    print(f"| server total | headers parsed → answer written | {total:.3f} |")


if __name__ == "__main__":
    main()
