"""Where an onnxruntime CUDA session spends a batch: host-fed against device-bound input.

    python -m bench.gpu_probe MODEL.onnx [MODEL.onnx ...] [--device cuda:0]

For each model and each way of feeding it (``host``: a numpy batch to ``run``, which
onnxruntime copies over; ``device``: a batch already in device memory, bound through
I/O binding), a fresh session runs batch sizes in the order dynamic batching meets them
(first call and second call of each size timed apart: the first pays any per-shape
set-up), then onnxruntime's profiler says which nodes took the time and on which
provider. Written after bench/gpu.py found an FP16 model 100x slower fed from the host
than bound on the device; it then runs sizes already seen, alternating, and one on
another thread, to tell a per-shape set-up paid once from one paid at every change.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.gpu import input_dtype

SIZES = (1, 8, 17, 33, 64)
ALTERNATE = (64, 8, 64, 8, 1, 64, 64)


def probe(path: Path, device: str, feed: str) -> dict[str, Any]:
    import onnxruntime as ort

    from tensorgate.runtimes.onnx import providers_for

    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = f"/tmp/probe-{path.parent.parent.name}-{feed}"
    session = ort.InferenceSession(str(path), options, providers=providers_for(device))
    meta = session.get_inputs()[0]
    kind = input_dtype(meta.type)
    outputs = [o.name for o in session.get_outputs()]
    rng = np.random.default_rng(0)
    timings: list[tuple[int, float, float]] = []

    def call(batch: np.ndarray) -> None:
        if feed == "host":
            session.run(outputs, {meta.name: batch})
            return
        value = ort.OrtValue.ortvalue_from_numpy(batch, device.partition(":")[0], 0)
        binding = session.io_binding()
        binding.bind_ortvalue_input(meta.name, value)
        for name in outputs:
            binding.bind_output(name, "cpu")
        session.run_with_iobinding(binding)

    for size in SIZES:
        batch = rng.integers(0, 256, (size, *meta.shape[1:])).astype(kind)
        first = time.perf_counter()
        call(batch)
        second = time.perf_counter()
        call(batch)
        timings.append((size, 1e3 * (second - first), 1e3 * (time.perf_counter() - second)))
    # every size below has run twice: a slow call here is paid for changing shape, not
    # for a new one; the last runs on a thread that has not called the session before
    again: list[str] = []
    for size in ALTERNATE:
        batch = rng.integers(0, 256, (size, *meta.shape[1:])).astype(kind)
        began = time.perf_counter()
        call(batch)
        again.append(f"b{size}: {1e3 * (time.perf_counter() - began):.1f}")
    with concurrent.futures.ThreadPoolExecutor(1) as other:
        began = time.perf_counter()
        other.submit(call, batch).result()
        again.append(
            f"b{ALTERNATE[-1]} on another thread: {1e3 * (time.perf_counter() - began):.1f}"
        )
    profile = session.end_profiling()
    nodes: collections.Counter[str] = collections.Counter()
    for event in json.loads(Path(profile).read_text()):
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            args = event.get("args", {})
            nodes[f"{args.get('op_name')}@{args.get('provider')}"] += event["dur"]
    return {
        "providers": session.get_providers(),
        "ms first/second by batch": [f"b{s}: {a:.1f}/{b:.1f}" for s, a, b in timings],
        "ms again, sizes seen before": again,
        "top nodes (ms, all calls)": [f"{k} {v / 1e3:.1f}" for k, v in nodes.most_common(6)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--device", default="cuda:0")
    args = parser.parse_args()
    for path in args.models:
        for feed in ("host", "device"):
            try:
                result = probe(path, args.device, feed)
            except Exception as exc:
                result = {"failed": f"{type(exc).__name__}: {exc}"}
            print(path.parent.parent.name, feed, json.dumps(result, indent=1), flush=True)


if __name__ == "__main__":
    main()
