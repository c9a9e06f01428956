"""Overload: offer twice the measured capacity and see what is refused, how fast, and
whether the accepted requests finish within their deadline.

    .venv/bin/python -m bench.overload [--seconds 10] [--deadline 5]

The load comes from ``hey`` (Go, installed from Debian by this script when missing), so
the generator costs far less CPU than the server it loads. One server (efficientnet-lite0,
two instances, request deadline ``--deadline`` s) classifies scikit-image's cat (JPEG)
on ``/classify``. Capacity: a closed loop of 16 callers for ``--seconds``. Overload: 400
workers each sending at 2 × capacity / 400 per second for ``--seconds`` (hey writes
every response's status and time as CSV). Reported: offered and answered rates, the
503s (refused at admission: their latency p50 / p99 / max, and that they carry
``Retry-After``) and the 200s (latency p50 / p99 / max against the deadline).
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import statistics
import subprocess
import tempfile
import threading
from pathlib import Path

import httpx

from tensorgate.config import default_repository
from tensorgate.server.process import spawn_server
from tensorgate.zoo import pull


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


def hey(binary: str, url: str, body: Path, args: list[str]) -> list[tuple[int, float]]:
    """(status, seconds) of every response hey got."""
    done = subprocess.run(
        [binary, *args, "-m", "POST", "-T", "image/jpeg", "-D", str(body), "-o", "csv", url],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for row in csv.DictReader(io.StringIO(done.stdout)):
        rows.append((int(row["status-code"]), float(row["response-time"])))
    return rows


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
        from PIL import Image
        from skimage import data

        body = Path(scratch) / "cat.jpg"
        Image.fromarray(data.chelsea()).save(body, quality=92)
        repository = Path(scratch) / "repository"
        shutil.copytree(
            pull("efficientnet-lite0", default_repository()).directory,
            repository / "efficientnet-lite0",
        )
        with spawn_server(
            repository, "--instances", "2", "--request-timeout", str(args.deadline)
        ) as server:
            url = f"{server.url}/v2/models/efficientnet-lite0/classify"
            seconds = f"{args.seconds:g}s"
            hey(binary, url, body, ["-c", "16", "-z", "2s"])  # warm-up
            closed = hey(binary, url, body, ["-c", "16", "-z", seconds])
            capacity = sum(1 for s, _ in closed if s == 200) / args.seconds
            workers = 400
            rate = 2 * capacity / workers
            retry_after: list[str] = []

            def probe() -> None:  # one refusal's headers, seen during the overload
                with httpx.Client(timeout=30) as client:
                    for _ in range(200):
                        answer = client.post(url, content=body.read_bytes())
                        if answer.status_code == 503:
                            retry_after.append(answer.headers.get("retry-after", ""))
                            return

            prober = threading.Thread(target=probe)
            prober.start()
            over = hey(binary, url, body, ["-c", str(workers), "-q", f"{rate:.3f}", "-z", seconds])
            prober.join()
    ok = [t for s, t in over if s == 200]
    refused = [t for s, t in over if s == 503]
    other = [s for s, _ in over if s not in (200, 503)]
    print(f"capacity (16 callers, closed loop): {capacity:.1f} img/s")
    print(f"offered: {workers} workers x {rate:.3f}/s = {2 * capacity:.1f} req/s (2x)")
    print(f"sent {len(over)} in {args.seconds:g} s = {len(over) / args.seconds:.1f} req/s\n")
    print("| answer | count | per s | latency p50 / p99 / max ms |")
    print("| --- | --- | --- | --- |")
    print(f"| 200 | {len(ok)} | {len(ok) / args.seconds:.1f} | {percentiles(ok)} |")
    print(f"| 503 | {len(refused)} | {len(refused) / args.seconds:.1f} | {percentiles(refused)} |")
    if other:
        print(f"| other | {len(other)} | | statuses {sorted(set(other))} |")
    print(
        f"\n200s within the {args.deadline:g} s deadline: {sum(t <= args.deadline for t in ok)}"
        f"/{len(ok)}; 503s within 10 ms: {sum(t <= 0.010 for t in refused)}/{len(refused)}; "
        f"Retry-After on a 503: {retry_after[0] if retry_after else 'none seen'}"
    )


if __name__ == "__main__":
    main()
