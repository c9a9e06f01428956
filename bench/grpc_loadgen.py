"""Closed-loop gRPC load from a separate process: C asyncio tasks over the official
tritonclient.grpc.aio client, each with one request in flight (the gRPC analogue of
bench/loadgen.py's tensor mode).

    python -m bench.grpc_loadgen HOST:PORT CONCURRENCY SECONDS [ROWS]

Prints one JSON line: requests, images, seconds, images_per_s and latency percentiles (ms).
"""

from __future__ import annotations

import asyncio
import sys
import time

import numpy as np
import tritonclient.grpc.aio as grpcclient

from bench.summary import print_summary


async def run(target: str, concurrency: int, seconds: float, rows: int) -> list[float]:
    client = grpcclient.InferenceServerClient(target)
    batch = np.random.default_rng(0).standard_normal((rows, 3, 224, 224)).astype(np.float32)
    inp = grpcclient.InferInput("input", list(batch.shape), "FP32")
    inp.set_data_from_numpy(batch)  # encoded once, as perf_analyzer does
    out = grpcclient.InferRequestedOutput("logits")
    latencies: list[float] = []

    async def worker(stop_at: float, record: bool) -> None:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            result = await client.infer("efficientnet-lite0", [inp], outputs=[out])
            assert result.as_numpy("logits").shape == (rows, 1000)
            if record:
                latencies.append(time.perf_counter() - started)

    warm = time.perf_counter() + min(1.0, seconds / 5)
    await asyncio.gather(*(worker(warm, False) for _ in range(concurrency)))
    stop = time.perf_counter() + seconds
    await asyncio.gather(*(worker(stop, True) for _ in range(concurrency)))
    await client.close()
    return latencies


def main() -> None:
    target, concurrency, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    rows = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    started = time.perf_counter()
    latencies = asyncio.run(run(target, concurrency, seconds, rows))
    elapsed = time.perf_counter() - started - min(1.0, seconds / 5)
    print_summary(latencies, rows, elapsed)


if __name__ == "__main__":
    main()
