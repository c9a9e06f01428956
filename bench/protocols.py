"""gRPC vs HTTP on the same server, model and load: throughput and latency, side by side.

    .venv/bin/python -m bench.protocols [--seconds 8] [--concurrency 1 8] [--rows 1]

One server (efficientnet-lite0, 2 instances) serves both doors; each load generator is
its own process (the official tritonclient: http with gevent, grpc with asyncio), and the
two protocols alternate at each concurrency so drift on a noisy machine hits both.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from tensorgate.config import default_repository
from tensorgate.server.process import spawn_server


def measure(command: list[str]) -> dict[str, float]:
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--rows", type=int, default=1)
    args = parser.parse_args()
    repository = default_repository()
    with spawn_server(
        repository, "--model", "efficientnet-lite0", "--instances", "2", "--log-level", "warning"
    ) as server:
        assert server.grpc is not None
        print(f"{'concurrency':>11}  {'protocol':8} {'img/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
        for concurrency in args.concurrency:
            common = [str(concurrency), str(args.seconds), str(args.rows)]
            http_cmd = [sys.executable, "-m", "bench.loadgen", "tensor", server.url, *common]
            grpc_cmd = [sys.executable, "-m", "bench.grpc_loadgen", server.grpc, *common]
            runs: dict[str, dict[str, float]] = {}
            for name, command in (("http", http_cmd), ("grpc", grpc_cmd)):
                runs[name] = measure(command)
                r = runs[name]
                print(
                    f"{concurrency:>11}  {name:8} {r['images_per_s']:8.1f} "
                    f"{r['p50_ms']:8.2f} {r['p99_ms']:8.2f}",
                    flush=True,
                )
            ratio = runs["grpc"]["images_per_s"] / runs["http"]["images_per_s"]
            delta = runs["grpc"]["p50_ms"] - runs["http"]["p50_ms"]
            print(
                f"{concurrency:>11}  grpc/http throughput {ratio:.3f}, p50 grpc − http {delta:+.2f} ms"
            )


if __name__ == "__main__":
    main()
