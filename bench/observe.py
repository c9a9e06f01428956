"""What watching costs: the access log, tracing at 10 % sampling, and ten open consoles,
against a server doing none of it, side by side in one run.

    .venv/bin/python -m bench.observe [--seconds 10] [--rounds 3]

Four servers on the same repository (efficientnet-lite0, two instances), one at a time,
in rounds (A B C D, A B C D, ...) so that drift on this shared machine falls on all of
them alike:

- A, the baseline: ``--no-access-log``, no tracing;
- B: the access log on (the default), written to a pipe that is read and dropped;
- C: ``--no-access-log --tracing`` with ``OTEL_TRACES_SAMPLER=parentbased_traceidratio``
  and ``OTEL_TRACES_SAMPLER_ARG=0.1``, exporting OTLP/HTTP to a sink in this process
  (which counts the export requests it receives);
- D: the baseline with ten consoles open: ten callers each fetching
  ``/console/api/live`` once a second (what the Live view does).

Load: ``hey`` (Go) in a closed loop of 8 callers posting scikit-image's cat (JPEG) to
``/classify`` for ``--seconds``. Printed: img/s per round, the median per server and its
ratio to A; the console's page weight (raw and gzip).

Whole-server throughput on two shared cores moves by more than these costs from one
round to the next, so each is also measured alone, in this process: the middleware's
time per request (an app that answers at once, 20,000 requests; the access log written
through the server's JSON formatter to /dev/null; tracing at 10 % exporting to the
sink) and the time of one ``/console/api/live`` document.
"""

from __future__ import annotations

import argparse
import gzip
import http.server
import statistics
import tempfile
import threading
from importlib import resources
from pathlib import Path

import httpx

from bench.fixtures import cat_jpeg_file, lite0_repository
from bench.overload import ensure_hey, hey
from tensorgate.config import default_repository
from tensorgate.server.console import CONSOLE_FILES
from tensorgate.server.process import spawn_server


class Sink(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP endpoint that accepts and counts export requests."""

    received = 0

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        self.rfile.read(length)
        Sink.received += 1
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def consoles(url: str, stop: threading.Event, count: int = 10) -> list[threading.Thread]:
    def one() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.wait(1.0):
                client.get(f"{url}/console/api/live").raise_for_status()

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


def per_request_costs(endpoint: str, requests: int = 20_000) -> dict[str, float]:
    """Microseconds per request the observe middleware adds, by configuration."""
    import asyncio
    import logging
    import os
    import time as clock

    from tensorgate.logs import JsonFormatter
    from tensorgate.server.observe import Observe
    from tensorgate.tracing import configure_tracing, disable_tracing

    async def app(scope: object, receive: object, send: object) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"{}"})  # type: ignore[operator]

    async def noop_send(message: object) -> None:
        pass

    async def noop_receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {
        "type": "http", "method": "POST", "path": "/v2/models/efficientnet-lite0/classify",
        "headers": [(b"content-type", b"image/jpeg"), (b"host", b"x")],
    }  # fmt: skip

    def timed_run(handler: object) -> float:
        async def loop() -> float:
            started = clock.perf_counter()
            for _ in range(requests):
                await handler(scope, noop_receive, noop_send)  # type: ignore[operator]
            return (clock.perf_counter() - started) / requests * 1e6

        return asyncio.run(loop())

    sink_log = logging.getLogger("tensorgate.access")
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115
    handler.setFormatter(JsonFormatter())
    sink_log.addHandler(handler)
    sink_log.setLevel(logging.INFO)
    sink_log.propagate = False
    base = timed_run(app)
    costs = {"access log": timed_run(Observe(app, access_log=True)) - base}
    os.environ.update(
        OTEL_TRACES_SAMPLER="parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG="0.1",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=endpoint,
    )  # fmt: skip
    configure_tracing()
    costs["tracing at 10 %"] = timed_run(Observe(app, access_log=False)) - base
    disable_tracing()
    sink_log.removeHandler(handler)
    return costs


def live_document_ms(rounds: int = 200) -> float:
    """Milliseconds to build and encode one /console/api/live document (one model that
    has answered requests)."""
    import asyncio
    import io
    import json
    import time as clock

    from PIL import Image
    from skimage import data

    from tensorgate import Engine, EngineSettings
    from tensorgate.server.console import live_snapshot

    async def measure() -> float:
        repository = default_repository()
        settings = EngineSettings(repository=repository, models=("efficientnet-lite0",))
        async with Engine(settings) as engine:
            photo = io.BytesIO()
            Image.fromarray(data.chelsea()).save(photo, format="JPEG")
            for _ in range(20):  # every histogram has samples
                await engine.classify("efficientnet-lite0", [photo.getvalue()])
            started = clock.perf_counter()
            for _ in range(rounds):
                json.dumps(live_snapshot(engine))
            return (clock.perf_counter() - started) / rounds * 1000

    return asyncio.run(measure())


def page_weight() -> tuple[int, int]:
    files = resources.files("tensorgate.console")
    raw = [files.joinpath(name).read_bytes() for name in CONSOLE_FILES]
    return sum(map(len, raw)), sum(len(gzip.compress(b, 9)) for b in raw)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    binary = ensure_hey()
    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{sink.server_address[1]}/v1/traces"
    servers = {
        "A baseline": (["--no-access-log"], {}),
        "B access log": ([], {}),
        "C tracing 10 %": (
            ["--no-access-log", "--tracing"],
            {
                "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                "OTEL_TRACES_SAMPLER_ARG": "0.1",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint,
            },
        ),
        "D 10 consoles": (["--no-access-log"], {}),
    }
    rates: dict[str, list[float]] = {name: [] for name in servers}
    with tempfile.TemporaryDirectory(prefix="tensorgate-bench-observe-") as scratch:
        body = cat_jpeg_file(Path(scratch))
        repository = lite0_repository(Path(scratch))
        for round_ in range(args.rounds):
            for name, (flags, env) in servers.items():
                with spawn_server(repository, "--instances", "2", *flags, env=env) as server:
                    url = f"{server.url}/v2/models/efficientnet-lite0/classify"
                    hey(binary, url, body, ["-c", "8", "-z", "2s"])  # warm-up
                    stop = threading.Event()
                    watchers = consoles(server.url, stop) if name.startswith("D") else []
                    done = hey(binary, url, body, ["-c", "8", "-z", f"{args.seconds:g}s"])
                    stop.set()
                    for watcher in watchers:
                        watcher.join()
                rate = sum(1 for status, _ in done if status == 200) / args.seconds
                rates[name].append(rate)
                print(f"round {round_ + 1} {name:<16} {rate:7.1f} img/s", flush=True)
    base = statistics.median(rates["A baseline"])
    print(f"\n| server | img/s (median of {args.rounds}) | vs baseline |")
    print("| --- | --- | --- |")
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.1f} | {median / base:.3f} |")
    raw, packed = page_weight()
    print(f"\nOTLP export requests received: {Sink.received}")
    costs = per_request_costs(endpoint)
    for name, micros in costs.items():
        print(f"{name}: {micros:.1f} us of middleware per request")
    live = live_document_ms()
    print(f"one /console/api/live document: {live:.2f} ms; ten consoles: {10 * live:.1f} ms/s")
    print(f"console page weight: {raw:,} bytes ({packed:,} gzip), {len(CONSOLE_FILES)} files")


if __name__ == "__main__":
    main()
