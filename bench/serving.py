"""Serving efficiency, latency overhead and the JPEG path, measured side by side.

    .venv/bin/python -m bench.serving [--seconds 10] [--concurrency 8] [--instances 2]

In one run, on one machine:
1. raw onnxruntime: single-inference p50 (1 session, 1 thread, batch 1), and throughput
   with the same instances and threads as the server (one single-thread session per
   thread), at several batch sizes; the best is the bound;
2. the server (a real ``tensorgate serve`` subprocess) under the official tritonclient with
   binary tensors: p50 at concurrency 1, and throughput at saturation (load from a
   separate process);
3. the JPEG path: /classify throughput for 1.5 MP JPEGs against the decode + inference
   bound (decode + preprocess rate and inference rate per core, both measured here).

Prints a Markdown table of the figures and their ratios.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tests.helpers import add_sub_model, write_model

from tensorgate.config import default_repository
from tensorgate.devices import cpu_count
from tensorgate.imaging.preprocess import ImagePreprocessor
from tensorgate.imaging.spec import ImageLimits
from tensorgate.repository.manifest import load_config
from tensorgate.server.process import spawn_server
from tensorgate.zoo import pull

HERE = Path(__file__).resolve().parent
MODEL = "efficientnet-lite0"


def session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def raw_p50_ms(path: Path, runs: int, tiny: bool = False) -> float:
    if tiny:
        feed = {n: np.full((1, 16), 0.5, np.float32) for n in ("INPUT0", "INPUT1")}
    else:
        feed = {
            "input": np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
        }
    return feed_p50_ms(path, feed, runs)


def feed_p50_ms(path: Path, feed: dict[str, np.ndarray], runs: int) -> float:
    """Median ms of one single-thread session running ``feed`` (after 20 warm-up runs)."""
    s = session(path)
    for _ in range(20):
        s.run(None, feed)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        s.run(None, feed)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def raw_throughput(path: Path, instances: int, batch: int, seconds: float, pin: bool) -> float:
    """Images/s of ``instances`` single-thread sessions, each driven by its own thread
    (pinned to core ``i % cores`` when ``pin``, as the server pins its instances)."""
    cores = sorted(os.sched_getaffinity(0))
    sessions = [session(path) for _ in range(instances)]
    x = np.random.default_rng(0).standard_normal((batch, 3, 224, 224)).astype(np.float32)
    for s in sessions:
        s.run(None, {"input": x})
    counts = [0] * instances
    stop_at = time.perf_counter() + seconds

    def drive(i: int) -> None:
        if pin:
            os.sched_setaffinity(0, {cores[i % len(cores)]})
        while time.perf_counter() < stop_at:
            sessions[i].run(None, {"input": x})
            counts[i] += batch

    started = time.perf_counter()
    threads = [threading.Thread(target=drive, args=(i,)) for i in range(instances)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - started)


def engine_throughput(repository: Path, instances: int, concurrency: int, seconds: float) -> float:
    """Images/s through the Engine in-process (batcher, gate, threads; no HTTP)."""
    import asyncio

    from tensorgate import Engine, EngineSettings

    async def run() -> float:
        settings = EngineSettings(repository=repository, models=(MODEL,), instances=instances)
        async with Engine(settings) as engine:
            x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
            done = 0
            stop_at = time.perf_counter() + seconds

            async def caller() -> None:
                nonlocal done
                while time.perf_counter() < stop_at:
                    await engine.infer(MODEL, {"input": x.copy()})
                    done += 1

            started = time.perf_counter()
            await asyncio.gather(*(caller() for _ in range(concurrency)))
            return done / (time.perf_counter() - started)

    return asyncio.run(run())


def decode_rate(preprocessor: ImagePreprocessor, image: bytes, seconds: float) -> float:
    """Decode + preprocess images/s on one thread."""
    from bench.decode import rate

    return rate(preprocessor, image, seconds)


def jpeg_1_5mp() -> bytes:
    from PIL import Image
    from skimage import data

    photo = Image.fromarray(data.chelsea()).resize((1500, 1000), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def loadgen(*args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", *args],
        cwd=HERE.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--instances", type=int, default=cpu_count())
    parser.add_argument("--batches", default="1,4,8,16")
    args = parser.parse_args()

    repository = default_repository()
    pull(MODEL, repository)
    path = repository / MODEL / "1" / "model.onnx"
    spec = load_config(repository / MODEL).preprocess
    assert spec is not None
    image = jpeg_1_5mp()

    print(
        f"# serving bench: {cpu_count()} cores, instances={args.instances}, "
        f"concurrency={args.concurrency}, {args.seconds:.0f} s per point",
        file=sys.stderr,
    )
    raw_p50 = raw_p50_ms(path, 300)
    raw = {(b, pin): raw_throughput(path, args.instances, int(b), args.seconds, pin)
           for b in args.batches.split(",") for pin in (False, True)}  # fmt: skip
    raw_best_batch, raw_best = max(raw.items(), key=lambda kv: kv[1])
    in_process = engine_throughput(repository, args.instances, args.concurrency, args.seconds)
    decode = decode_rate(ImagePreprocessor(spec, ImageLimits()), image, args.seconds)
    per_image_s = 1 / decode + 1 / (raw_best / args.instances)
    jpeg_bound = args.instances / per_image_s

    with tempfile.TemporaryDirectory() as scratch:
        image_path = Path(scratch) / "photo.jpg"
        image_path.write_bytes(image)
        tiny_repo = Path(scratch) / "tiny"
        write_model(tiny_repo, "add_sub_fp32", add_sub_model("FP32"), {"max_batch_size": 8})
        tiny_raw = raw_p50_ms(tiny_repo / "add_sub_fp32" / "1" / "model.onnx", 2000, tiny=True)
        with spawn_server(tiny_repo, "--instances", "1", "--log-level", "warning") as server:
            tiny = loadgen("tiny", server.url, "1", str(args.seconds / 2))
        with spawn_server(repository, "--model", MODEL, "--instances", str(args.instances),
                          "--log-level", "warning") as server:  # fmt: skip
            half, full, conc = str(args.seconds / 2), str(args.seconds), str(args.concurrency)
            c1 = loadgen("tensor", server.url, "1", half)
            c1_lean = loadgen("prebuilt", server.url, "1", half)
            saturated = loadgen("tensor", server.url, conc, full)
            saturated_lean = loadgen("prebuilt", server.url, conc, full)
            quad = loadgen("tensor", server.url, str(max(1, args.concurrency // 2)), full, "4")
            jpeg = loadgen("jpeg", server.url, conc, full, str(image_path))

    def rate(result: dict[str, float]) -> str:
        return f"{result['images_per_s']:.1f} img/s"

    def tail(result: dict[str, float]) -> str:
        return f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms"

    c = args.concurrency
    rows = [
        ("raw onnxruntime p50, batch 1, 1 thread", f"{raw_p50:.2f} ms", ""),
        ("server p50 at concurrency 1, tritonclient (binary)", f"{c1['p50_ms']:.2f} ms", ""),
        ("**latency overhead**, tritonclient", f"**{c1['p50_ms'] - raw_p50:.2f} ms**", "goal ≤ 1 ms"),
        ("server p50 at concurrency 1, request pre-encoded", f"{c1_lean['p50_ms']:.2f} ms", ""),
        ("**latency overhead**, pre-encoded request", f"**{c1_lean['p50_ms'] - raw_p50:.2f} ms**", "server's share"),
        ("fixed cost: 16-float model, server p50 − raw p50", f"{tiny['p50_ms'] - tiny_raw:.2f} ms",
         f"raw {tiny_raw * 1000:.0f} µs; JSON body, concurrency 1"),
        *[(f"raw onnxruntime, {args.instances} × 1 thread, batch {b}{', pinned' if pin else ''}",
           f"{v:.1f} img/s", "") for (b, pin), v in raw.items()],
        (f"Engine in-process, {c} concurrent callers, no HTTP", f"{in_process:.1f} img/s",
         f"{in_process / raw_best:.3f} of best raw"),
        (f"server, tritonclient, concurrency {c}, 1 image/request", rate(saturated), tail(saturated)),
        ("**serving efficiency**, 1 image/request", f"**{saturated['images_per_s'] / raw_best:.3f}**",
         f"bound: raw batch {raw_best_batch[0]}{', pinned' if raw_best_batch[1] else ''}; goal ≥ 0.90"),
        (f"server, pre-encoded, concurrency {c}, 1 image/request", rate(saturated_lean), tail(saturated_lean)),
        ("serving efficiency, pre-encoded", f"{saturated_lean['images_per_s'] / raw_best:.3f}", ""),
        (f"server, tritonclient, concurrency {max(1, c // 2)}, 4 images/request", rate(quad), tail(quad)),
        ("**serving efficiency**, 4 images/request", f"**{quad['images_per_s'] / raw_best:.3f}**", ""),
        ("decode + preprocess, 1.5 MP JPEG, 1 thread", f"{decode:.1f} img/s", ""),
        (f"decode + inference bound, {args.instances} cores", f"{jpeg_bound:.1f} img/s", ""),
        (f"server /classify, 1.5 MP JPEG, concurrency {c}", rate(jpeg), tail(jpeg)),
        ("**JPEG path efficiency** (server / bound)", f"**{jpeg['images_per_s'] / jpeg_bound:.3f}**", ""),
    ]  # fmt: skip
    print("| measure | value | note |")
    print("| --- | --- | --- |")
    for name, value, note in rows:
        print(f"| {name} | {value} | {note} |")


if __name__ == "__main__":
    main()
