"""Each vision task through the server against its own bound, measured in one run.

    .venv/bin/python -m bench.tasks [--seconds 5] [--levels 1,8,32]

Models: the zoo's efficientnet-lite0 (classify), efficientnet-lite0-embed (embed),
pp-ocrv6-det (text-detect) and pp-ocrv6-rec (text-recognize), and nudenet's YOLOv8n at
320² (detect; AGPL, installed by scripts/fixture.sh nudenet into a cache folder and
copied into a scratch repository for the run only). Images: a 1.5 MP JPEG of a person
(scikit-image's astronaut, upscaled) for classify, detect and embed; scikit-image's
scanned page (512 × 191) for text-detect; one rendered 36-character line for
text-recognize.

The bound per task is what the cores could do with no serving at all, from three rates
measured here in one thread each: decode + preprocess (tensorgate's image path), raw
onnxruntime (one single-thread session per core, batches of 4, threads pinned as the
server pins its instances; one image a run for the text models, whose inputs vary in
size and rarely share a batch) and the decoder on a real output row; with C cores,
``bound = C / (1/decode + C/infer + 1/decoder)`` images/s.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort

from bench.fixtures import NUDENET, nudenet_detector
from tensorgate.bench import BenchConfig, run_bench
from tensorgate.config import default_repository
from tensorgate.devices import cpu_count
from tensorgate.imaging.preprocess import ImagePreprocessor
from tensorgate.imaging.spec import ImageLimits
from tensorgate.repository.manifest import load_config
from tensorgate.server.process import spawn_server
from tensorgate.tasks import decoder_named
from tensorgate.tasks.ctc import dictionary_from_metadata
from tensorgate.zoo import pull

ROOT = Path(__file__).resolve().parent.parent
DETECTOR = NUDENET


def person_jpeg() -> bytes:
    from PIL import Image
    from skimage import data

    photo = Image.fromarray(data.astronaut()).resize((1500, 1000), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def page_png() -> bytes:
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.page()).convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def line_png() -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (760, 56), "white")
    text = "Espresso cups 6 x 3.00 = 18.00 EUR"
    ImageDraw.Draw(image).text((12, 4), text, fill="black", font=ImageFont.load_default(40))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def repository(scratch: Path) -> Path:
    """A scratch repository: the two zoo models and nudenet's detector."""
    repo = scratch / "repository"
    zoo = default_repository()
    for name in ("efficientnet-lite0", "efficientnet-lite0-embed", "pp-ocrv6-det", "pp-ocrv6-rec"):
        shutil.copytree(pull(name, zoo).directory, repo / name)
    nudenet_detector(repo, max_batch_size=32, pad=114)
    return repo


def per_second(work: Callable[[], object], seconds: float) -> float:
    work()
    count = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        work()
        count += 1
    return count / (time.perf_counter() - started)


def raw_infer(path: Path, feed_name: str, tensor: np.ndarray, seconds: float, batch: int) -> float:
    """Images/s of one single-thread session per core, pinned, ``batch`` images a run;
    every session warmed up before the clock starts, each counted over its own time."""
    cores = sorted(os.sched_getaffinity(0))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    sessions = [
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]) for _ in cores
    ]
    feed = np.stack([tensor] * batch)
    for session in sessions:
        session.run(None, {feed_name: feed})
    rates = [0.0] * len(cores)

    def drive(i: int) -> None:
        os.sched_setaffinity(0, {cores[i]})
        done = 0
        started = time.perf_counter()
        while done == 0 or time.perf_counter() - started < seconds:
            sessions[i].run(None, {feed_name: feed})
            done += batch
        rates[i] = done / (time.perf_counter() - started)

    threads = [threading.Thread(target=drive, args=(i,)) for i in range(len(cores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(rates)


def bound(model_dir: Path, image: bytes, seconds: float) -> tuple[float, float, float, float]:
    """(decode + preprocess /s on one thread, raw inference /s on all cores, decoder /s on
    one thread, the bound)."""
    config = load_config(model_dir)
    post = config.postprocess
    if config.preprocess is None or post is None:
        raise SystemExit(f"{model_dir.name} takes no images")
    preprocessor = ImagePreprocessor(config.preprocess, ImageLimits())
    prepared = preprocessor.prepare(image)
    path = model_dir / "1" / "model.onnx"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    row = session.run(None, {name: prepared.tensor[np.newaxis]})[0][0]
    metadata = session.get_modelmeta().custom_metadata_map
    if post.decoder == "ctc" and not post.labels:  # as the engine does at load
        post = replace(post, labels=dictionary_from_metadata(metadata["character"]))
    decoder = decoder_named(post.decoder)
    decode = per_second(lambda: preprocessor.prepare(image), seconds)
    # Text regions and lines vary in size and rarely share a batch: time them one by one.
    batch = 1 if config.task.startswith("text") else 4
    infer = raw_infer(path, name, prepared.tensor, seconds, batch)
    answer = per_second(lambda: decoder.decode(row, prepared.geometry, post, None), seconds)
    cores = cpu_count()
    return decode, infer, answer, cores / (1 / decode + cores / infer + 1 / answer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--levels", default="1,8,32")
    args = parser.parse_args()
    levels = tuple(int(v) for v in args.levels.split(","))
    photo, page, line = person_jpeg(), page_png(), line_png()
    tasks = (
        ("classify", "efficientnet-lite0", photo),
        ("detect", DETECTOR, photo),
        ("embed", "efficientnet-lite0-embed", photo),
        ("text-detect", "pp-ocrv6-det", page),
        ("text-recognize", "pp-ocrv6-rec", line),
    )
    with tempfile.TemporaryDirectory(prefix="tensorgate-bench-tasks-") as scratch:
        repo = repository(Path(scratch))
        bounds = {m: bound(repo / m, image, 3.0) for _, m, image in tasks}
        print(f"{cpu_count()} cores; one image per request\n")
        print(
            "| task | model | decode+pre /s (1 thread) | raw ORT /s (all cores) | decoder /s | bound /s |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
        for task, model, _ in tasks:
            d, i, p, b = bounds[model]
            print(f"| {task} | {model} | {d:.1f} | {i:.1f} | {p:,.0f} | {b:.1f} |")
        print("\n| task | concurrency | img/s | of bound | p50 ms | p99 ms | mean batch |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        with spawn_server(repo) as server:
            for task, model, image in tasks:
                steps = run_bench(
                    BenchConfig(
                        url=server.url,
                        model=model,
                        payload="image",
                        image=image,
                        seconds=args.seconds,
                        warmup_s=1.0,
                        concurrency=levels,
                        endpoint=f"/v2/models/{model}/{task}",
                    )
                )
                for step in steps:
                    share = step.images_per_s / bounds[model][3]
                    print(
                        f"| {task} | {step.level:g} | {step.images_per_s:.1f} | {share:.2f} | "
                        f"{step.latency.p50:.1f} | {step.latency.p99:.1f} | "
                        f"{step.server.batch_size:.1f} |"
                        + (f" errors: {step.errors} ({step.first_error})" if step.errors else "")
                    )


if __name__ == "__main__":
    main()
