"""Overload: offer twice the measured capacity and see what is refused, how fast, and
whether the accepted requests finish within their deadline.

    .venv/bin/python -m bench.overload [--seconds 10] [--deadline 5]

One server (efficientnet-lite0, two instances, request deadline ``--deadline`` s)
classifies scikit-image's cat (JPEG) on ``/classify``. Capacity: ``hey`` (Go, installed
from Debian by this script when missing) in a closed loop of 16 callers for
``--seconds``. Overload: Poisson arrivals at 2 x capacity for ``--seconds`` from
``bench.openloop`` in its own process, at ``nice -n -10`` when run as root (so that the
generator's clock does not wait for the cores the server saturates). Reported: the 503s
(refused at admission: latency p50 / p99 / max from each request's scheduled arrival,
the share within 10 ms, and that every one carries ``Retry-After``) and the 200s
(latency against the deadline).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.fixtures import cat_jpeg_file, lite0_repository
from tensorgate.server.process import spawn_server

PATH = "/v2/models/efficientnet-lite0/classify"


def ensure_hey() -> str:
    found = shutil.which("hey")
    if found is None:
        subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", "hey"],
            check=True,
            capture_output=True,
        )
        found = shutil.which("hey")
    if found is None:
        raise SystemExit("hey is not installed and could not be installed")
    return found


def hey(
    binary: str, url: str, body: Path, args: list[str], content_type: str = "image/jpeg"
) -> list[tuple[int, float]]:
    """(status, seconds) of every response hey got (``args``: its -c, -z, -H …)."""
    done = subprocess.run(
        [binary, *args, "-m", "POST", "-T", content_type, "-D", str(body), "-o", "csv", url],
        capture_output=True,
        text=True,
        check=True,
    )
    return [
        (int(row["status-code"]), float(row["response-time"]))
        for row in csv.DictReader(io.StringIO(done.stdout))
    ]


def open_loop(address: str, body: Path, rate: float, seconds: float) -> list[list[float]]:
    """[status, latency, retry_after] per request, from bench.openloop's own process."""
    boost = ["nice", "-n", "-10"] if os.geteuid() == 0 else []
    command = [*boost, sys.executable, "-m", "bench.openloop", address, PATH, str(body)]
    done = subprocess.run(
        [*command, f"{rate:.3f}", f"{seconds:g}"], capture_output=True, text=True, check=True
    )
    results: list[list[float]] = json.loads(done.stdout)
    return results


def percentiles(values: list[float]) -> str:
    if not values:
        return "- / - / -"
    ordered = sorted(values)
    p99 = ordered[int(0.99 * (len(ordered) - 1))]
    return f"{statistics.median(ordered) * 1000:.1f} / {p99 * 1000:.1f} / {ordered[-1] * 1000:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--deadline", type=float, default=5.0)
    args = parser.parse_args()
    binary = ensure_hey()
    with tempfile.TemporaryDirectory(prefix="tensorgate-bench-overload-") as scratch:
        body = cat_jpeg_file(Path(scratch))
        repository = lite0_repository(Path(scratch))
        with spawn_server(
            repository, "--instances", "2", "--request-timeout", str(args.deadline)
        ) as server:
            url = f"{server.url}{PATH}"
            hey(binary, url, body, ["-c", "16", "-z", "2s"])  # warm-up
            closed = hey(binary, url, body, ["-c", "16", "-z", f"{args.seconds:g}s"])
            capacity = sum(1 for s, _ in closed if s == 200) / args.seconds
            over = open_loop(server.host_port, body, 2 * capacity, args.seconds)
    ok = [t for s, t, _ in over if s == 200]
    refused = [t for s, t, _ in over if s == 503]
    other = sorted({int(s) for s, _, _ in over if s not in (200, 503)})
    print(f"capacity (16 callers, closed loop): {capacity:.1f} img/s")
    print(
        f"offered: Poisson arrivals at {2 * capacity:.1f} req/s (2x) for {args.seconds:g} s; "
        f"generator {'at nice -10' if os.geteuid() == 0 else 'at the same priority'}\n"
    )
    print("| answer | count | per s | latency p50 / p99 / max ms |")
    print("| --- | --- | --- | --- |")
    print(f"| 200 | {len(ok)} | {len(ok) / args.seconds:.1f} | {percentiles(ok)} |")
    print(f"| 503 | {len(refused)} | {len(refused) / args.seconds:.1f} | {percentiles(refused)} |")
    if other:
        print(
            f"| other | {len(over) - len(ok) - len(refused)} | | statuses {other} (0: no answer) |"
        )
    with_retry = sum(1 for s, _, r in over if s == 503 and r)
    print(
        f"\n200s within the {args.deadline:g} s deadline: {sum(t <= args.deadline for t in ok)}"
        f"/{len(ok)}; 503s within 10 ms: {sum(t <= 0.010 for t in refused)}/{len(refused)}; "
        f"503s with Retry-After: {with_retry}/{len(refused)}"
    )


if __name__ == "__main__":
    main()
