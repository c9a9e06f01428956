"""The host work a padded batch holds its device for: stacking, padding, cutting back.

    python -m bench.host_batch [--seconds 4] [--rounds 2] [--rows 5] [--size 224]

A GPU model pads each batch to its bucket size (batching/buckets.py). The H200 runs
of ``bench.gpu`` found the host-fed path holding the GPU's gate 27–29 ms a batch of
~58 images against the model's 6.5–9.4 ms. Part of that is host copies: the batch was
stacked (one copy of every request's pixels) and then padded (a second copy of the
whole batch) inside the gate. It is now stacked at its bucket size in one copy, and on
a GPU before the gate.

This measures those copies on any machine, with the model taken out of the way: a real
ONNX graph taking UINT8 ``size × size`` NCHW pixels that reads one pixel a row (µs a
batch), served by the in-process engine on the CPU with ``pad_batches="always"`` (2
instances, batches ≤ 64), fed ``--rows``-row tensor requests by 16 callers in a closed
loop. ``before`` puts back the stack-then-pad of the commit before (the batcher stacks
the requests' own rows; the padded runtime copies them again to pad); ``after`` is the
code as it is. Rounds alternate. Per mode: rows/s, and per batch from the V2
statistics: rows, ``stack`` (compute_input), ``run`` (compute_infer: the padding, in
``before``, and the µs model) and ``cut`` (compute_output), in ms. The CPU's gate
admits a batch per core, so what these cost the GPU's single slot shows here as time
per batch, not as throughput on these cores.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import yaml
from onnx import TensorProto, helper, numpy_helper

from tensorgate.batching import batcher as batcher_module
from tensorgate.config import EngineSettings
from tensorgate.engine import Engine
from tensorgate.protocol.models import statistics_v2

MODEL = "one-pixel"


def one_pixel_model(repository: Path, size: int, max_batch_size: int) -> None:
    """A UINT8 NCHW classifier that reads each row's first pixel (a slice, a cast and a
    1 × 1000 product): the model's run is microseconds whatever the batch."""
    weights = np.random.default_rng(0).standard_normal((1, 1000)).astype(np.float32)
    constants = {
        "starts": [0, 0, 0],
        "ends": [1, 1, 1],
        "axes": [1, 2, 3],
        "flat": [-1, 1],
    }
    graph = helper.make_graph(
        [
            helper.make_node("Slice", ["input", "starts", "ends", "axes"], ["pixel"]),
            helper.make_node("Cast", ["pixel"], ["value"], to=TensorProto.FLOAT),
            helper.make_node("Reshape", ["value", "flat"], ["column"]),
            helper.make_node("MatMul", ["column", "weights"], ["logits"]),
        ],
        "one_pixel",
        [helper.make_tensor_value_info("input", TensorProto.UINT8, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1000])],
        initializer=[
            *(numpy_helper.from_array(np.array(v, np.int64), k) for k, v in constants.items()),
            numpy_helper.from_array(weights, "weights"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)
    directory = repository / MODEL
    (directory / "1").mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(directory / "1" / "model.onnx"))
    config = {
        "name": MODEL,
        "backend": "onnxruntime",
        "max_batch_size": max_batch_size,
        "dynamic_batching": {"max_queue_delay_ms": 0},
        "inputs": [{"name": "input", "datatype": "UINT8", "dims": [3, size, size]}],
        "outputs": [{"name": "logits", "datatype": "FP32", "dims": [1000]}],
    }
    (directory / "config.yaml").write_text(yaml.safe_dump(config))


@contextmanager
def stack_then_pad() -> Iterator[None]:
    """The commit before: the batcher stacks the requests' own rows, the padded runtime
    copies the stack again to pad it."""
    padded_rows = batcher_module.padded_rows
    batcher_module.padded_rows = lambda runtime, rows: rows  # type: ignore[assignment]
    try:
        yield
    finally:
        batcher_module.padded_rows = padded_rows


async def closed_loop(
    settings: EngineSettings, rows: int, size: int, seconds: float
) -> dict[str, Any]:
    tensor = np.random.default_rng(1).integers(0, 255, (rows, 3, size, size), dtype=np.uint8)
    done = 0

    async def caller(stop: float) -> None:
        nonlocal done
        while time.perf_counter() < stop:
            out = await engine.infer(MODEL, {"input": tensor})
            assert out["logits"].shape == (rows, 1000)
            done += rows

    async with Engine(settings) as engine:
        await asyncio.gather(*(caller(time.perf_counter() + 1.0) for _ in range(16)))  # warm
        (before,) = [statistics_v2(v) for v in engine.statistics(MODEL)]
        done = 0
        start = time.perf_counter()
        await asyncio.gather(*(caller(start + seconds) for _ in range(16)))
        elapsed = time.perf_counter() - start
        (after,) = [statistics_v2(v) for v in engine.statistics(MODEL)]
    batches = after["execution_count"] - before["execution_count"]
    row = {
        "rows_s": done / elapsed,
        "rows_a_batch": (after["inference_count"] - before["inference_count"]) / batches,
    }
    for phase, name in (("input", "stack"), ("infer", "run"), ("output", "cut")):
        ns = sum(b[f"compute_{phase}"]["ns"] for b in after["batch_stats"]) - sum(
            b[f"compute_{phase}"]["ns"] for b in before["batch_stats"]
        )
        row[f"{name}_ms"] = ns / 1e6 / batches
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rows", type=int, default=5, help="rows a request")
    parser.add_argument("--size", type=int, default=224, help="pixels a side")
    args = parser.parse_args(argv)
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="tg-host-batch-") as scratch:
        repository = Path(scratch)
        one_pixel_model(repository, args.size, 64)
        settings = EngineSettings(
            repository=repository,
            models=(MODEL,),
            device="cpu",
            instances=2,
            max_batch_size=64,
            max_queue_delay_ms=0.0,
            pad_batches="always",
            request_timeout_s=60.0,
        )
        for round_ in range(args.rounds):
            for mode in ("before", "after") if round_ % 2 == 0 else ("after", "before"):
                run = closed_loop(settings, args.rows, args.size, args.seconds)
                if mode == "before":
                    with stack_then_pad():
                        row = asyncio.run(run)
                else:
                    row = asyncio.run(run)
                runs[mode].append(row)
                print(f"round {round_ + 1} {mode}: " + ", ".join(
                    f"{k} {v:.2f}" for k, v in row.items()), flush=True)  # fmt: skip
    print(f"\n{args.rows}-row requests of UINT8 3×{args.size}×{args.size}, medians of "
          f"{args.rounds} rounds")  # fmt: skip
    print("| mode | rows/s | rows a batch | stack ms | run ms | cut ms | held ms a batch |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for mode, rows in runs.items():
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        held = med["stack_ms"] + med["run_ms"] + med["cut_ms"]
        print(
            f"| {mode} | {med['rows_s']:.0f} | {med['rows_a_batch']:.1f} | {med['stack_ms']:.2f} "
            f"| {med['run_ms']:.2f} | {med['cut_ms']:.2f} | {held:.2f} |"
        )


if __name__ == "__main__":
    main()
