"""GPU end to end from JPEG: img/s of each image path, side by side, on one device.

    python -m bench.gpu --repository DIR --models a,b [--device cuda:0] [--seconds 6]
                        [--out results.json]

Per model (an image classifier in DIR; the models are whatever DIR holds, see
scripts/device_bench.sh for the fp16 EfficientNet-Lite0 and ResNet-50 it prepares):

- ``raw``: the model alone, a batch already in device memory bound through onnxruntime's
  I/O binding, at batch 1, 32 and 128 — the ceiling no image path can pass;
- ``engine``: tensorgate's in-process engine from JPEG bytes to top-5 classes, closed
  loop (``--callers`` callers, ``--images`` JPEGs per call), one run per image path:
  ``cpu``       decode and preprocess on CPU threads, the batch copied to the device;
  ``nvjpeg``    nvJPEG one image at a time in the decode pool, each tensor copied back
                to host memory, the batch assembled there and copied again (the path
                before batched device inputs);
  ``device``    the batch's JPEGs decoded in one nvJPEG call on the instance thread,
                resized there, stacked and bound to the model on the device.

Each engine row also says the event loop thread's CPU per image (the serial share that
caps one process) and how long the engine took to load (sessions, and each padded
batch size run once: ``--pad-batches``, default ``gpu``; ``never`` shows the stalls of
new batch sizes instead) and which batch sizes the batcher formed.

Then, once: decode alone (nvJPEG batched, nvJPEG one by one, the CPU decoder on all
cores), and which execution providers the sessions really use (TensorRT is tried and
its refusal recorded). Runs on the CPU too (``--device cpu``: the ``raw`` and ``cpu``
rows only), which is how tests/test_bench.py smoke-tests it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from tests.imaging.test_accuracy import photo_jpeg

from tensorgate.batching.buckets import sessions
from tensorgate.config import EngineSettings
from tensorgate.engine import Engine
from tensorgate.protocol.models import statistics_v2
from tensorgate.repository.manifest import load_config

PATHS = {  # image path → (gpu_decode, decode_on)
    "cpu": (False, "instance"),
    "nvjpeg": (True, "pool"),
    "device": (True, "instance"),
}
PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")


def photos(size: tuple[int, int]) -> list[bytes]:
    """Real photos (scikit-image) as JPEGs of one size, quality 90."""
    return [photo_jpeg(name, size) for name in PHOTOS]


def input_dtype(onnx_type: str) -> type[np.generic]:
    """The numpy type of a zoo model's input (UINT8 pixels, FP16 or FP32 tensors)."""
    return {"tensor(uint8)": np.uint8, "tensor(float16)": np.float16}.get(onnx_type, np.float32)


def raw_ceiling(path: Path, device: str, batches: tuple[int, ...], seconds: float) -> list[dict]:
    """img/s of the model alone on a device-resident batch (onnxruntime I/O binding)."""
    import onnxruntime as ort

    from tensorgate.runtimes.onnx import providers_for

    session = ort.InferenceSession(str(path), providers=providers_for(device))
    meta = session.get_inputs()[0]
    kind = input_dtype(meta.type)
    rows = []
    for batch in batches:
        shape = (batch, *meta.shape[1:])
        host = np.random.default_rng(0).integers(0, 256, shape).astype(kind)
        value = ort.OrtValue.ortvalue_from_numpy(
            host, "cuda" if device.startswith("cuda") else "cpu", 0
        )
        binding = session.io_binding()
        binding.bind_ortvalue_input(meta.name, value)
        for out in session.get_outputs():
            binding.bind_output(out.name, "cuda" if device.startswith("cuda") else "cpu")
        for _ in range(3):
            session.run_with_iobinding(binding)
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            session.run_with_iobinding(binding)
            binding.synchronize_outputs()
            runs += 1
        elapsed = time.perf_counter() - start
        rows.append({"batch": batch, "img_s": runs * batch / elapsed, "runs": runs})
    return rows


async def closed_loop(
    engine: Engine, model: str, images: list[bytes], callers: int, per_call: int, seconds: float
) -> dict[str, Any]:
    """``callers`` callers classifying ``per_call`` of ``images`` a call for ``seconds``:
    img/s, latencies, and the CPU per image of the event loop's thread (the caller's)
    and of the whole process."""
    latencies: list[float] = []
    done = 0
    stop = time.perf_counter() + seconds

    async def caller(offset: int) -> None:
        nonlocal done
        index = offset
        while time.perf_counter() < stop:
            batch = [images[(index + i) % len(images)] for i in range(per_call)]
            index += per_call
            began = time.perf_counter()
            answers = await engine.classify(model, batch, top=5)
            latencies.append(time.perf_counter() - began)
            assert len(answers) == per_call
            done += per_call

    loop_cpu, process_cpu = time.thread_time(), time.process_time()  # this thread: the loop
    start = time.perf_counter()
    await asyncio.gather(*(caller(i) for i in range(callers)))
    elapsed = time.perf_counter() - start
    loop_cpu, process_cpu = time.thread_time() - loop_cpu, time.process_time() - process_cpu
    latencies.sort()
    return {
        "img_s": done / elapsed,
        "loop_cpu_ms_per_image": 1e3 * loop_cpu / max(1, done),
        "loop_busy": loop_cpu / elapsed,
        "process_cpu_ms_per_image": 1e3 * process_cpu / max(1, done),
        "p50_ms": 1e3 * statistics.median(latencies),
        "p99_ms": 1e3 * latencies[int(0.99 * (len(latencies) - 1))],
        "calls": len(latencies),
    }


async def _engine_run(
    settings: EngineSettings,
    model: str,
    images: list[bytes],
    callers: int,
    per_call: int,
    seconds: float,
) -> dict[str, Any]:
    loading = time.perf_counter()
    async with Engine(settings) as engine:
        load_s = time.perf_counter() - loading  # sessions, and each padded size once
        await engine.classify(model, images[:1])  # warm: session, decoder, kernels
        await closed_loop(engine, model, images, callers, per_call, min(2.0, seconds))
        result = await closed_loop(engine, model, images, callers, per_call, seconds)
        loaded = engine._registry.model(model)
        runtime = loaded.runtimes[0]
        result["providers"] = getattr(runtime, "providers", None)
        result["preprocessor"] = type(loaded.preprocess).__name__
        (best, *_), *_ = await engine.classify(model, images[:1])
        result["top1"] = best.label
        result["load_s"] = load_s
        # Batch sizes formed (before padding): without buckets, each is a shape the
        # runtime set up on first sight (and again at every change, one session alone).
        (stats,) = [statistics_v2(v) for v in engine.statistics(model)]
        result["batch_sizes"] = [b["batch_size"] for b in stats["batch_stats"]]
        # Where a batch's time goes (warm-up included), gate held: stacking the requests,
        # the model's run, cutting the outputs back (Triton's compute_input / _infer /
        # _output); and the making of its images, per image (the decode histogram).
        runs = sum(b["compute_infer"]["count"] for b in stats["batch_stats"])
        for phase, key in (("input", "stack"), ("infer", "run"), ("output", "cut")):
            ns = sum(b[f"compute_{phase}"]["ns"] for b in stats["batch_stats"])
            result[f"{key}_ms_per_batch"] = ns / 1e6 / max(1, runs)
        result["rows_per_batch"] = stats["inference_count"] / max(1, runs)
        result["decode_ms_per_image"] = _decode_ms(engine.render_metrics().body.decode(), model)
        result["padded_to"] = list(getattr(runtime, "sizes", ()))
        result["sessions_per_instance"] = sessions(runtime)
        return result


def _decode_ms(metrics: str, model: str) -> float | None:
    """The mean of ``tensorgate_decode_duration_seconds`` for ``model``, in ms."""
    found: dict[str, float] = {}
    for line in metrics.splitlines():
        for part in ("sum", "count"):
            prefix = f'tensorgate_decode_duration_seconds_{part}{{model="{model}"'
            if line.startswith(prefix):
                found[part] = float(line.rpartition(" ")[2])
    if not found.get("count"):
        return None
    return 1e3 * found["sum"] / found["count"]


def decode_only(images: list[bytes], device: str, seconds: float) -> list[dict]:
    """Decode alone: nvJPEG batched and one by one (when on a GPU), the CPU decoder on
    every core (the engine's decode pool)."""
    rows = []
    cores = os.cpu_count() or 1
    import simplejpeg

    def cpu_decode(data: bytes) -> int:
        return int(simplejpeg.decode_jpeg(data, colorspace="RGB").shape[0])

    with ThreadPoolExecutor(cores) as pool:
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            list(pool.map(cpu_decode, images * 16))
            count += len(images) * 16
        rows.append(
            {
                "decoder": f"CPU simplejpeg, {cores} threads",
                "img_s": count / (time.perf_counter() - start),
            }
        )
    if device.startswith("cuda"):
        import torch

        from tensorgate.imaging.gpu import gpu_decoder, gpu_jpeg_batch_decoder, gpu_jpeg_decoder

        name = gpu_decoder()
        if name is not None:
            many = gpu_jpeg_batch_decoder(name, device)
            one = gpu_jpeg_decoder(name, device)
            batch = images * 16
            for label, run in (
                (f"nvJPEG batched ({name}), {len(batch)} per call", lambda: many(batch)),
                (f"nvJPEG one by one ({name})", lambda: [one(d) for d in batch]),
            ):
                run()
                torch.cuda.synchronize()
                count, start = 0, time.perf_counter()
                while time.perf_counter() - start < seconds:
                    run()
                    torch.cuda.synchronize()
                    count += len(batch)
                rows.append({"decoder": label, "img_s": count / (time.perf_counter() - start)})
    return rows


def tensorrt_check(path: Path, device: str) -> str:
    """What onnxruntime says when asked for TensorRT on this model."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if "TensorrtExecutionProvider" not in available:
        return f"not in this onnxruntime build (it has {', '.join(available)})"
    index = int(device.partition(":")[2] or 0)
    try:
        session = ort.InferenceSession(
            str(path),
            providers=[("TensorrtExecutionProvider", {"device_id": index}), "CPUExecutionProvider"],
        )
    except Exception as exc:
        return f"refused: {type(exc).__name__}: {str(exc)[:300]}"
    return f"session providers: {session.get_providers()}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", type=Path, required=True)
    parser.add_argument("--models", required=True, help="comma-separated model names")
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--callers", type=int, default=32)
    parser.add_argument("--images", type=int, default=8, help="JPEGs per call")
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--size", default="640x480", help="photo size, WxH")
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument(
        "--pad-batches", default="gpu", choices=("gpu", "always", "never"),
        help="EngineSettings.pad_batches: 'never' shows what a GPU meets without buckets",
    )  # fmt: skip
    parser.add_argument(
        "--sessions-per-size", default="auto", choices=("auto", "always", "never"),
        help="EngineSettings.sessions_per_size: 'never' shows one session meeting every size",
    )  # fmt: skip
    parser.add_argument(
        "--make-in-gate", action="store_true",
        help="make each batch inside the GPU's gate, as before Batcher._make_first (the before)",
    )  # fmt: skip
    parser.add_argument(
        "--stack-in-gate", action="store_true",
        help="stack a host batch inside the GPU's gate, then pad it with a second copy, as "
        "before tensors.Stacked and padded_rows (the before of the host-fed path's change)",
    )  # fmt: skip
    parser.add_argument(
        "--engine-only", action="store_true",
        help="only the engine rows: no model-alone, TensorRT or decode-alone rows (for a profiler)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.make_in_gate:  # the schedule before: the gate held through the batch's making
        from tensorgate.batching.batcher import Batcher

        async def in_gate(*_: object) -> None:
            return None

        Batcher._make_first = in_gate  # type: ignore[method-assign, assignment]
    if args.stack_in_gate:  # the host batch before: stacked in the gate, padded by a copy
        from tensorgate.batching import batcher as batcher_module
        from tensorgate.batching.batcher import Batcher
        from tensorgate.batching.deferred import Deferred

        make_first = Batcher._make_first

        async def images_only(self: Any, index: int, instance: Any, batch: Any) -> Any:
            if not any(isinstance(p.inputs, Deferred) for p in batch):
                return None
            return await make_first(self, index, instance, batch)

        Batcher._make_first = images_only  # type: ignore[method-assign]
        batcher_module.padded_rows = lambda runtime, rows: rows  # type: ignore[assignment]
    width, height = (int(v) for v in args.size.split("x"))
    images = photos((width, height))
    on_gpu = args.device.startswith("cuda")
    paths = [p for p in args.paths.split(",") if on_gpu or p == "cpu"]
    results: dict[str, Any] = {"device": args.device, "size": args.size, "models": {}}
    if on_gpu:
        import torch

        results["gpu"] = torch.cuda.get_device_name(torch.device(args.device))
    results["cores"] = os.cpu_count()

    def save() -> None:
        if args.out:
            args.out.write_text(json.dumps(results, indent=1))

    bound = 2 * args.max_batch * args.instances  # the engine's default queue bound
    callers = min(args.callers, max(1, bound // args.images))
    if callers < args.callers:  # more images in flight would be refused (503), not queued
        print(f"callers {args.callers} -> {callers}: the queue holds {bound} images")
    for model in args.models.split(","):
        entry: dict[str, Any] = {}
        results["models"][model] = entry
        onnx = args.repository / model / "1" / "model.onnx"
        config = load_config(args.repository / model)
        entry["input"] = f"{config.inputs[0].datatype} {list(config.inputs[0].shape)}"
        if not args.engine_only:
            try:
                entry["raw"] = raw_ceiling(onnx, args.device, (1, 32, 128), args.seconds / 2)
            except Exception as exc:
                entry["raw"] = f"failed: {type(exc).__name__}: {exc}"
            print(model, "raw", entry["raw"], flush=True)
            save()
        for path in paths:
            gpu_decode, decode_on = PATHS[path]
            settings = EngineSettings(
                repository=args.repository,
                models=(model,),
                device=args.device,
                instances=args.instances,
                max_batch_size=args.max_batch,
                max_queue_delay_ms=0.0,
                decode_on=decode_on,
                gpu_decode=gpu_decode,
                request_timeout_s=120.0,
                pad_batches=args.pad_batches,
                sessions_per_size=args.sessions_per_size,
            )
            try:
                row = asyncio.run(
                    _engine_run(settings, model, images, callers, args.images, args.seconds)
                )
            except Exception as exc:
                row = {"failed": f"{type(exc).__name__}: {exc}"}
            entry[path] = row
            print(model, path, row, flush=True)
            save()
        if on_gpu and not args.engine_only:
            entry["tensorrt"] = tensorrt_check(onnx, args.device)
            print(model, "tensorrt", entry["tensorrt"], flush=True)
    if not args.engine_only:
        results["decode"] = decode_only(images, args.device, args.seconds / 2)
        print("decode", results["decode"], flush=True)
        save()
    print(table(results))


def table(results: dict[str, Any]) -> str:
    lines = [
        f"device {results['device']} ({results.get('gpu', 'CPU')}), {results['cores']} cores, "
        f"photos {results['size']}",
        "| model | path | img/s | p50 ms | p99 ms | x cpu path | load s | loop ms/img (busy) "
        "| rows a batch · stack / run / cut ms · decode ms/img |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for model, entry in results["models"].items():
        base = entry.get("cpu", {}).get("img_s")
        for path in PATHS:
            row = entry.get(path)
            if not isinstance(row, dict):
                continue
            if "failed" in row:
                lines.append(f"| {model} | {path} | failed: {row['failed'][:80]} | | | | | | |")
                continue
            ratio = f"{row['img_s'] / base:.2f}" if base else ""
            decode = row.get("decode_ms_per_image")
            split = (
                f"{row.get('rows_per_batch', 0):.1f} · {row.get('stack_ms_per_batch', 0):.2f} / "
                f"{row.get('run_ms_per_batch', 0):.2f} / {row.get('cut_ms_per_batch', 0):.2f} · "
                + ("—" if decode is None else f"{decode:.3f}")
            )
            lines.append(
                f"| {model} | {path} | {row['img_s']:.0f} | {row['p50_ms']:.1f} | "
                f"{row['p99_ms']:.1f} | {ratio} | {row.get('load_s', 0):.1f} | "
                f"{row['loop_cpu_ms_per_image']:.3f} ({row['loop_busy']:.2f}) | {split} |"
            )
        if isinstance(entry.get("raw"), list):
            raw = ", ".join(f"b{r['batch']} {r['img_s']:.0f}" for r in entry["raw"])
            lines.append(f"| {model} | raw (model alone) | {raw} | | | | | | |")
    for row in results.get("decode", []):
        lines.append(f"| decode only | {row['decoder']} | {row['img_s']:.0f} | | | | | | |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
