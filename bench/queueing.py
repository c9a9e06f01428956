"""The planner's queueing model against the real server: predicted p99 beside measured
p99 at three open-loop rates, in one run.

    .venv/bin/python -m bench.queueing [--seconds 20] [--loads 0.3,0.6,0.85]

One server (efficientnet-lite0, two instances) classifies the cat JPEG. Measured first:
one request alone (60 sequential requests: mean and p99 latency) and the capacity
(``hey``, 16 callers, closed loop). From those, ``Service.from_capacity`` gives the
model's servers, service time and variability, as ``tensorgate plan`` builds it. Then
Poisson arrivals (``bench.openloop``, its own process, ``nice -n -10`` as root) at each
load × capacity; each run's p99 is printed beside ``response_quantile_s`` at that rate,
with the relative error.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.fixtures import cat_jpeg_file, lite0_repository
from bench.overload import PATH, ensure_hey, hey, open_loop
from tensorgate.plan.queueing import Service, response_quantile_s
from tensorgate.server.process import spawn_server


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.99 * (len(ordered) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--loads", default="0.3,0.6,0.85")
    args = parser.parse_args()
    loads = [float(x) for x in args.loads.split(",")]
    binary = ensure_hey()
    with tempfile.TemporaryDirectory(prefix="tensorgate-bench-queueing-") as scratch:
        body = cat_jpeg_file(Path(scratch))
        jpeg = body.read_bytes()
        repository = lite0_repository(Path(scratch))
        with spawn_server(repository, "--instances", "2", "--log-level", "warning") as server:
            url = f"{server.url}{PATH}"
            hey(binary, url, body, ["-c", "16", "-z", "2s"])  # warm-up
            with httpx.Client() as client:
                alone = []
                for _ in range(60):
                    started = time.perf_counter()
                    client.post(url, content=jpeg).raise_for_status()
                    alone.append(time.perf_counter() - started)
            closed = hey(binary, url, body, ["-c", "16", "-z", f"{args.seconds:g}s"])
            capacity = sum(1 for s, _ in closed if s == 200) / args.seconds
            service = Service.from_capacity(
                capacity, statistics.mean(alone) * 1000, p99(alone) * 1000
            )
            runs = []
            for load in loads:
                rate = load * capacity
                answers = open_loop(server.host_port, body, rate, args.seconds)
                ok = [t for s, t, _ in answers if s == 200]
                failed = len(answers) - len(ok)
                runs.append((load, rate, p99(ok), failed))
    print(
        f"one request alone: mean {statistics.mean(alone) * 1000:.1f} ms, p99 "
        f"{p99(alone) * 1000:.1f} ms; capacity (16 callers) {capacity:.1f} img/s"
    )
    print(
        f"model: {service.servers} servers × {service.service_s * 1000:.1f} ms, cv² "
        f"{service.cv2:.2f}, service p99 {service.service_p99_s * 1000:.1f} ms\n"
    )
    print("| load | rate img/s | measured p99 ms | model p99 ms | error |")
    print("| --- | --- | --- | --- | --- |")
    errors = []
    for load, rate, measured, failed in runs:
        predicted = response_quantile_s(rate, 1, service)
        error = (predicted - measured) / measured
        errors.append(abs(error))
        note = f" ({failed} not 200)" if failed else ""
        print(
            f"| {load:.0%} | {rate:.1f} | {measured * 1000:.1f}{note} | "
            f"{predicted * 1000:.1f} | {error:+.0%} |"
        )
    print(f"\nmean absolute error: {statistics.mean(errors):.0%}")


if __name__ == "__main__":
    main()
