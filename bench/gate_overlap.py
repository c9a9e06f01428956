"""What a GPU's gate holds: a batch's making inside it, or before it (simulated device).

    python -m bench.gate_overlap [--make-ms 9.5] [--run-ms 8] [--instances 2,4] [--seconds 3]

The real ``Batcher``, instance threads and ``DeviceGate`` (one slot, as on a GPU); the
device is simulated, so the figures check the batcher's schedule, not a GPU: each
batch's run sleeps ``--run-ms`` (a GPU run: the instance thread waits, the GIL is
free) and making its inputs sleeps ``--make-ms`` in all (nvJPEG's batched decode,
resizes, stacking), shared over its requests. The defaults are the H200's Lite0 FP32
batch of 64: 8 ms of model, ~9.5 ms of the rest (docs/benchmarks.md, "GPU, second
lease"). With the gate named ``cpu`` the batch is made inside the gate, as every GPU
batch was before; named ``cuda:0``, before it (``Batcher._make_first``). From the
schedule alone: inside, one batch per make + run; before, one per
max(run, (make + run) / instances).
"""

from __future__ import annotations

import argparse
import asyncio
import time

import numpy as np

from tensorgate.batching.batcher import Batcher, Instance
from tensorgate.batching.clock import LoopClock
from tensorgate.batching.deferred import Deferred
from tensorgate.batching.gate import DeviceGate
from tensorgate.batching.policy import BatchPolicy
from tensorgate.batching.threads import thread_runner
from tensorgate.runtimes.fake import FakeRuntime
from tensorgate.types import ModelKey, Tensors, TensorSpec

IN = (TensorSpec("x", "FP32", (3,)),)
OUT = (TensorSpec("y", "FP32", (2,)),)


async def run(
    gate_device: str, instances: int, batch: int, make_s: float, run_s: float, seconds: float
) -> float:
    """Rows a second through a batcher whose batches hold the gate for ``run_s`` and
    take ``make_s`` to make, ``batch`` rows each, at saturation."""
    gate = DeviceGate(gate_device, 1)
    runtimes = [FakeRuntime(IN, OUT, delay_s=run_s) for _ in range(instances)]
    run_sync, shutdown = thread_runner(instances)
    batcher = Batcher(
        ModelKey("simulated", 1),
        BatchPolicy(batch, max_queue_rows=4 * batch * instances),
        [Instance(r, gate) for r in runtimes],
        LoopClock(),
        run_sync,
    )
    batcher.start()
    row = {"x": np.ones((1, 3), np.float32)}
    per_row = make_s / batch

    def make() -> tuple[Tensors, object]:
        time.sleep(per_row)
        return row, None

    key = (("x", (3,), np.dtype(np.float32).str),)
    done = 0
    stop = time.monotonic() + seconds

    async def caller() -> None:
        nonlocal done
        while time.monotonic() < stop:
            await batcher.submit(Deferred(make, key), time.monotonic() + 60.0)
            done += 1

    try:
        await asyncio.gather(*(caller() for _ in range(2 * batch * instances)))
    finally:
        await batcher.stop(5.0)
        shutdown()
    return done / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--make-ms", type=float, default=9.5)
    parser.add_argument("--run-ms", type=float, default=8.0)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--instances", default="2,4")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    make_s, run_s = args.make_ms / 1e3, args.run_ms / 1e3
    print(
        f"simulated device: a batch of {args.batch} runs {args.run_ms:g} ms holding the "
        f"gate (1 slot) and takes {args.make_ms:g} ms to make"
    )
    print("| instances | made inside the gate (before) rows/s | made before the gate rows/s | "
          "ratio | schedule says |")  # fmt: skip
    print("| --- | --- | --- | --- | --- |")
    for instances in (int(n) for n in args.instances.split(",")):
        inside = asyncio.run(run("cpu", instances, args.batch, make_s, run_s, args.seconds))
        before = asyncio.run(run("cuda:0", instances, args.batch, make_s, run_s, args.seconds))
        ideal_inside = args.batch / (make_s + run_s)
        ideal_before = args.batch / max(run_s, (make_s + run_s) / instances)
        print(
            f"| {instances} | {inside:,.0f} | {before:,.0f} | {before / inside:.2f} | "
            f"{ideal_inside:,.0f} → {ideal_before:,.0f} |"
        )


if __name__ == "__main__":
    main()
