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
"""

from __future__ import annotations

import argparse
import gzip
import http.server
import shutil
import statistics
import tempfile
import threading
from importlib import resources
from pathlib import Path

import httpx

from bench.overload import ensure_hey, hey
from tensorgate.config import default_repository
from tensorgate.server.console import CONSOLE_FILES
from tensorgate.server.process import spawn_server
from tensorgate.zoo import pull


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
        from PIL import Image
        from skimage import data

        body = Path(scratch) / "cat.jpg"
        Image.fromarray(data.chelsea()).save(body, quality=92)
        repository = Path(scratch) / "repository"
        shutil.copytree(
            pull("efficientnet-lite0", default_repository()).directory,
            repository / "efficientnet-lite0",
        )
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
    print(f"console page weight: {raw:,} bytes ({packed:,} gzip), {len(CONSOLE_FILES)} files")


if __name__ == "__main__":
    main()
