"""Model lifecycle costs on a real server: the cold start of an evicted model, and the
latency clients see while new versions are swapped in under load.

    .venv/bin/python -m bench.lifecycle [--swaps 3] [--clients 4]

Cold start: two copies of efficientnet-lite0 and a memory budget that holds only one,
so each request for the other model evicts the first and loads its own (measured by the
client, and by the server's tensorgate_model_cold_start_seconds). Swap: 4 closed-loop
clients on one model while new versions are copied in and loaded; p50/p99 of requests
that overlapped a swap against those that did not.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from tensorgate.client import Client
from tensorgate.config import default_repository
from tensorgate.server.process import spawn_server

TOKEN = "bench"


def copy_model(lite0: Path, target: Path) -> None:
    shutil.copytree(lite0, target)
    config = target / "config.yaml"
    config.write_text(re.sub(r"(?m)^name: .*$", f"name: {target.name}", config.read_text()))


def infer_ms(client: Client, model: str, batch: np.ndarray) -> float:
    started = time.perf_counter()
    client.infer({"input": batch}, model=model).result()
    return (time.perf_counter() - started) * 1000


def cold_start(lite0: Path, work: Path, rounds: int) -> None:
    repo = work / "cold"
    for name in ("a", "b"):
        copy_model(lite0, repo / name)
    batch = np.zeros((1, 3, 224, 224), np.float32)
    with spawn_server(repo, "--instances", "1", "--log-level", "warning") as server:
        stats = httpx.get(f"{server.url}/v2/models/a/stats").json()["model_stats"][0]
        size = stats["memory_usage"][0]["byte_size"]
    budget = int(size * 1.5)
    args = ("--instances", "1", "--log-level", "warning", "--memory-budget", f"{budget}B")
    with spawn_server(repo, *args) as server, Client(server.url) as client:
        warm = [infer_ms(client, "b", batch) for _ in range(20)]  # b evicted a at startup
        cold = []
        for _ in range(rounds):
            cold.append(infer_ms(client, "a", batch))  # loads a, evicts b
            cold.append(infer_ms(client, "b", batch))  # loads b, evicts a
        metrics = httpx.get(f"{server.url}/metrics").text
    total = sum(
        float(v)
        for v in re.findall(r"tensorgate_model_cold_start_seconds_sum\{.*\} (\S+)", metrics)
    )
    count = sum(
        float(v)
        for v in re.findall(r"tensorgate_model_cold_start_seconds_count\{.*\} (\S+)", metrics)
    )
    print(f"model memory measured at load: {size / 2**20:.1f} MiB; budget {budget / 2**20:.1f} MiB")
    print(f"warm request p50:            {statistics.median(warm):8.1f} ms")
    print(
        f"cold-start request p50:      {statistics.median(cold):8.1f} ms  (max {max(cold):.1f}, n={len(cold)})"
    )
    print(f"server cold-start mean:      {total / count * 1000:8.1f} ms  (n={count:.0f})")


def swap_latency(lite0: Path, work: Path, swaps: int, clients: int) -> None:
    repo = work / "swap"
    copy_model(lite0, repo / "m")
    batch = np.zeros((1, 3, 224, 224), np.float32)
    records: list[tuple[float, float, bool]] = []  # start, end, ok
    windows: list[tuple[float, float]] = []
    stop = threading.Event()
    args = (
        "--instances",
        "2",
        "--log-level",
        "warning",
        "--model-control",
        "--control-token",
        TOKEN,
    )
    with spawn_server(repo, *args) as server:

        def load() -> None:
            with Client(server.url, "m") as client:
                while not stop.is_set():
                    started = time.perf_counter()
                    try:
                        client.infer({"input": batch}).result()
                        ok = True
                    except Exception:
                        ok = False
                    records.append((started, time.perf_counter(), ok))

        threads = [threading.Thread(target=load) for _ in range(clients)]
        for thread in threads:
            thread.start()
        time.sleep(3)  # steady state before the first swap
        for version in range(2, 2 + swaps):
            shutil.copytree(repo / "m" / "1", repo / "m" / str(version))
            started = time.perf_counter()
            response = httpx.post(
                f"{server.url}/v2/repository/models/m/load",
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=120,
            )
            response.raise_for_status()
            windows.append((started, time.perf_counter() + 0.5))
            time.sleep(3)
        stop.set()
        for thread in threads:
            thread.join()
    during = [(e - s) * 1000 for s, e, _ in records if any(s < b and e > a for a, b in windows)]
    steady = [(e - s) * 1000 for s, e, _ in records if not any(s < b and e > a for a, b in windows)]
    failed = sum(1 for _, _, ok in records if not ok)
    swap_s = [b - 0.5 - a for a, b in windows]
    print(
        f"swaps: {swaps}, load call {statistics.median(swap_s):.2f} s median; requests {len(records)}, failed {failed}"
    )
    for name, values in (("steady", steady), ("during swap", during)):
        print(
            f"{name:12} n={len(values):5}  p50 {np.percentile(values, 50):7.1f} ms  "
            f"p99 {np.percentile(values, 99):7.1f} ms"
        )
    print(f"p99 during swap / steady: {np.percentile(during, 99) / np.percentile(steady, 99):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swaps", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    lite0 = default_repository() / "efficientnet-lite0"
    with tempfile.TemporaryDirectory() as tmp:
        print("== cold start of an evicted model")
        cold_start(lite0, Path(tmp), args.rounds)
        print("== version swap under load")
        swap_latency(lite0, Path(tmp), args.swaps, args.clients)


if __name__ == "__main__":
    main()
