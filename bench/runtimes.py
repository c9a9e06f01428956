"""Runtimes side by side on CPU: onnxruntime fp32, onnxruntime int8 (static), torch.

EfficientNet-Lite0 from the zoo in both forms (ONNX; ``torch.export`` archive for the
pytorch backend) and an int8-static copy made by ``tensorgate optimize``'s own code on
64 photo views. Each runtime is one single-threaded instance, as served (one per core),
created through tensorgate's runtime factories; rounds alternate between them so machine
noise falls on all alike. Prints img/s at batch 1 and 8, ratios to onnxruntime fp32,
and top-1 agreement with it on the photos.

    .venv/bin/python -m bench.runtimes [--seconds 6]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from functools import partial
from pathlib import Path

import numpy as np

from bench.photos import write_calibration_set
from tensorgate.config import default_repository
from tensorgate.optimize.calibration import load_calibration
from tensorgate.optimize.evaluate import alternate
from tensorgate.optimize.quantize import transform
from tensorgate.repository.manifest import load_config
from tensorgate.runtimes.base import Runtime, RuntimeOptions
from tensorgate.runtimes.onnx import load_onnx
from tensorgate.runtimes.pytorch import load_torch
from tensorgate.types import TensorSpec
from tensorgate.zoo import pull


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="per batch size")
    args = parser.parse_args()
    repository = default_repository()
    pull("efficientnet-lite0", repository)
    onnx_dir = repository / "efficientnet-lite0"
    config = load_config(onnx_dir)
    scratch = Path(tempfile.mkdtemp(prefix="tensorgate-bench-"))
    try:
        # Not into the default repository, which `tensorgate serve` loads whole.
        pull("efficientnet-lite0", scratch, fmt="pytorch")
        calibration = load_calibration(config, write_calibration_set(scratch / "photos"))
        int8 = scratch / "int8.onnx"
        transform("int8-static", onnx_dir / "1" / "model.onnx", int8, calibration, scratch)
        spec = (TensorSpec("input", "FP32", (3, 224, 224)),)
        out = (TensorSpec("logits", "FP32", (1000,)),)
        options = RuntimeOptions("cpu", 1, spec, out, max_batch_size=64)
        runtimes: dict[str, Runtime] = {
            "onnxruntime fp32": load_onnx(onnx_dir / "1" / "model.onnx", options),
            "onnxruntime int8-static": load_onnx(int8, options),
            "torch fp32 (.pt2)": load_torch(
                scratch / "efficientnet-lite0-pytorch" / "1" / "model.pt2", options
            ),
        }
        x = calibration.tensors
        logits = {
            name: np.concatenate(
                [r.infer({"input": x[i : i + 8]})["logits"] for i in range(0, len(x), 8)]
            )
            for name, r in runtimes.items()
        }
        reference = logits["onnxruntime fp32"].argmax(1)
        print(f"EfficientNet-Lite0, CPU, 1 thread per runtime, {len(x)} photo views")
        for batch in (1, 8):
            sample = np.ascontiguousarray(np.resize(x, (batch, *x.shape[1:])))
            calls = [partial(runtime.infer, {"input": sample}) for runtime in runtimes.values()]
            rates = dict(
                zip(runtimes, alternate(calls, args.seconds, batch, min_rounds=3), strict=True)
            )
            base = rates["onnxruntime fp32"]
            for name, rate in rates.items():
                agree = float((logits[name].argmax(1) == reference).mean())
                print(
                    f"batch {batch:>2}  {name:<24} {rate:7.1f} img/s  x{rate / base:4.2f}  "
                    f"top-1 agreement {agree:6.1%}"
                )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
