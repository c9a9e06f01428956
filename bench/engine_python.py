"""The engine's own Python per image: what bounds one process in front of a fast device.

    python -m bench.engine_python [--seconds 6] [--per-call 1,8] [--paths instance,device]
    python -m bench.engine_python --write-repository DIR    # the model alone, for a server

On a GPU the model and nvJPEG are fast enough that the event loop's Python per image
(queueing, futures, timers, statistics, the answer's postprocess) becomes the limit of
one process: the H200 runs of ``bench.gpu`` stopped at a third of the model alone.
This measures that Python on any machine by taking the model and the decode out of
the way: a real ONNX classifier whose graph is a mean and a 3 × 1000 product (µs per
batch), fed by real photos as 64 × 48 JPEGs (tens of µs to decode) resized to 32 × 32,
through the in-process engine, closed loop (``--callers`` callers, ``--per-call``
JPEGs per call). Paths:

``instance``  the CPU preprocessor, each image decoded on its batch's instance thread;
``device``    the device path (batching/device.py) on torch's CPU device: the GPU
              preprocessor with libjpeg-turbo standing in for nvJPEG, the batch made in
              one call and bound through onnxruntime's I/O binding; needs torch.

Per run: img/s, the event loop thread's CPU per image (``time.thread_time`` in the
loop) — the serial share that caps one process at ``1 / cpu_per_image`` images a
second however many cores or GPUs feed it — and the whole process's CPU per image
(every thread: decode, resize and inference included).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import yaml
from onnx import TensorProto, helper, numpy_helper
from tests.imaging.test_accuracy import photo_jpeg

from bench.gpu import closed_loop
from tensorgate.config import EngineSettings
from tensorgate.engine import Engine

MODEL = "null-classifier"
PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")


def null_classifier(repository: Path, max_batch_size: int) -> None:
    """A UINT8 32 × 32 NHWC classifier whose graph is a pixel mean and a 3 × 1000 matrix."""
    weights = np.random.default_rng(0).standard_normal((3, 1000)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["input"], ["pixels"], to=TensorProto.FLOAT),
            helper.make_node("ReduceMean", ["pixels", "axes"], ["mean"], keepdims=0),
            helper.make_node("MatMul", ["mean", "weights"], ["logits"]),
        ],
        "null_classifier",
        [helper.make_tensor_value_info("input", TensorProto.UINT8, ["batch", 32, 32, 3])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1000])],
        initializer=[
            numpy_helper.from_array(np.array([1, 2], dtype=np.int64), "axes"),
            numpy_helper.from_array(weights, "weights"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)
    directory = repository / MODEL
    (directory / "1").mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(directory / "1" / "model.onnx"))
    (directory / "labels.txt").write_text("".join(f"class {i}\n" for i in range(1000)))
    config = {
        "name": MODEL,
        "backend": "onnxruntime",
        "max_batch_size": max_batch_size,
        "dynamic_batching": {"max_queue_delay_ms": 0},
        "inputs": [{"name": "input", "datatype": "UINT8", "dims": [32, 32, 3]}],
        "outputs": [{"name": "logits", "datatype": "FP32", "dims": [1000]}],
        "task": "classify",
        "preprocess": {
            "resize": 32, "crop": 32, "layout": "NHWC", "color": "RGB", "datatype": "UINT8",
        },
        "postprocess": {"softmax": True, "top_k": 5, "labels": "labels.txt"},
    }  # fmt: skip
    (directory / "config.yaml").write_text(yaml.safe_dump(config))


@contextmanager
def device_stand_in() -> Iterator[None]:
    """The engine builds the GPU preprocessor on torch's CPU device, libjpeg-turbo
    decoding each batch in place of nvJPEG (as tests/test_engine_gpu.py does)."""
    import simplejpeg
    import torch

    from tensorgate import engine as engine_module
    from tensorgate.imaging.gpu import GpuImagePreprocessor

    def many(datas: Sequence[bytes]) -> list[Any]:
        return [torch.from_numpy(simplejpeg.decode_jpeg(d, colorspace="RGB")) for d in datas]

    def on_cpu(spec: Any, limits: Any, device: str, **_: Any) -> GpuImagePreprocessor:
        return GpuImagePreprocessor(spec, limits, "cpu", lambda d: many([d])[0], many)

    original = engine_module.choose_preprocessor
    engine_module.choose_preprocessor = on_cpu  # type: ignore[assignment]
    try:
        yield
    finally:
        engine_module.choose_preprocessor = original


async def engine_run(
    settings: EngineSettings, images: list[bytes], callers: int, per_call: int, seconds: float
) -> dict[str, Any]:
    async with Engine(settings) as engine:
        await closed_loop(engine, MODEL, images, callers, per_call, min(1.0, seconds))  # warm
        result = await closed_loop(engine, MODEL, images, callers, per_call, seconds)
        result["preprocessor"] = type(engine._registry.model(MODEL).preprocess).__name__
        return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--callers", type=int, default=16)
    parser.add_argument("--per-call", default="1,8", help="JPEGs per call, comma-separated")
    parser.add_argument("--paths", default="instance,device")
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--write-repository", type=Path, metavar="DIR",
        help="only write the null classifier into DIR (for a server: bench.gpu_server)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.write_repository:
        null_classifier(args.write_repository, args.max_batch)
        print(f"wrote {args.write_repository / MODEL}")
        return
    images = [photo_jpeg(name, (64, 48)) for name in PHOTOS]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="tg-engine-python-") as scratch:
        repository = Path(scratch)
        null_classifier(repository, args.max_batch)
        for round_ in range(args.rounds):
            for path in args.paths.split(","):
                for per_call in (int(v) for v in args.per_call.split(",")):
                    callers = min(
                        args.callers, max(1, 2 * args.max_batch * args.instances // per_call)
                    )
                    settings = EngineSettings(
                        repository=repository,
                        models=(MODEL,),
                        instances=args.instances,
                        max_batch_size=args.max_batch,
                        max_queue_delay_ms=0.0,
                        request_timeout_s=60.0,
                    )
                    run = engine_run(settings, images, callers, per_call, args.seconds)
                    if path == "device":
                        with device_stand_in():
                            row = asyncio.run(run)
                    else:
                        row = asyncio.run(run)
                    row.update(path=path, per_call=per_call, callers=callers, round=round_)
                    results.append(row)
                    print(
                        f"{path:9} {per_call:2} per call: {row['img_s']:8.0f} img/s, loop "
                        f"{row['loop_cpu_ms_per_image']:.3f} ms CPU per image "
                        f"(busy {row['loop_busy']:.2f}), all threads "
                        f"{row['process_cpu_ms_per_image']:.3f} ms, p50 {row['p50_ms']:.1f} ms",
                        flush=True,
                    )
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
