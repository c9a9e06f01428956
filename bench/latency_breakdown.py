"""Where the time of one request goes, at concurrency 1 (an instrumented in-process server).

    .venv/bin/python -m bench.latency_breakdown [--seconds 5] [--format onnx|uint8]

Serves efficientnet-lite0 from the default repository in this process with timestamps at
each step (body read, submit, worker pick-up, thread start / end, result, response
sent), drives it with pre-encoded binary requests from bench/loadgen.py in another
process, and prints the median time of each step.
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

import tensorgate.engine as engine_module
import tensorgate.server.infer as infer_module
from tensorgate import Engine, EngineSettings
from tensorgate.batching.batcher import thread_runner
from tensorgate.config import ServerSettings, default_repository
from tensorgate.server.app import create_app
from tensorgate.server.protocol import GuardedHttp
from tensorgate.types import Tensors
from tensorgate.zoo import pull

STEPS = ["start", "body", "submit", "worker", "thread_start", "thread_end", "resolved", "sent"]


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

    receive_body = infer_module.receive_body

    async def timed_receive_body(*a: Any, **k: Any) -> bytearray:
        body = await receive_body(*a, **k)
        current["body"] = time.perf_counter()
        return body

    infer_module.receive_body = timed_receive_body  # type: ignore[assignment]

    def timed_runner(instances: int, cores: Any = ()) -> Any:
        run, shutdown = thread_runner(instances, cores)

        async def timed_run(index: int, fn: Callable[[Tensors], Tensors], arg: Tensors) -> Tensors:
            def in_thread(x: Tensors) -> Tensors:
                current["thread_start"] = time.perf_counter()
                out = fn(x)
                current["thread_end"] = time.perf_counter()
                return out

            current["worker"] = time.perf_counter()
            return await run(index, in_thread, arg)

        return timed_run, shutdown

    engine_module.thread_runner = timed_runner  # type: ignore[assignment]
    engine = Engine(EngineSettings(repository=default_repository(), models=(model,), instances=2))
    infer = engine.infer_keyed

    async def timed_infer(*a: Any, **k: Any) -> Any:
        current["submit"] = time.perf_counter()
        result = await infer(*a, **k)
        current["resolved"] = time.perf_counter()
        return result

    engine.infer_keyed = timed_infer  # type: ignore[method-assign]
    inner = create_app(engine, ServerSettings())

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        current.clear()
        current["start"] = time.perf_counter()

        async def timed_send(message: Any) -> None:
            if message["type"] == "http.response.body":
                current["sent"] = time.perf_counter()
                rows.append(dict(current))
            await send(message)

        await inner(scope, receive, timed_send)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, loop="uvloop", http=GuardedHttp, log_level="warning")
    )
    client: dict[str, str] = {}

    def drive() -> None:
        while not server.started:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.loadgen",
                "prebuilt",
                url,
                "1",
                str(args.seconds),
                "1",
                model,
                datatype,
            ],
            cwd=Path(__file__).resolve().parents[1],
            capture_output=True,
            text=True,
        )
        client["out"] = out.stdout.strip()
        server.should_exit = True

    threading.Thread(target=drive).start()
    server.run(sockets=[sock])
    complete = [r for r in rows if all(k in r for k in STEPS)][20:]
    print(f"client: {client.get('out')}")
    print("| step | median ms |")
    print("| --- | --- |")
    for a, b in itertools.pairwise(STEPS):
        print(f"| {a} → {b} | {statistics.median(r[b] - r[a] for r in complete) * 1e3:.3f} |")
    total = statistics.median(r["sent"] - r["start"] for r in complete) * 1e3
    print(f"| server total (ASGI in → response sent) | {total:.3f} |")


if __name__ == "__main__":
    main()
