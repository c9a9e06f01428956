"""Pipelines through the server against the bound of their stages, measured in one run.

    .venv/bin/python -m bench.pipelines [--seconds 6] [--levels 1,8,32]

Two pipelines: the zoo's OCR (``pp-ocrv6``: PP-OCRv6 text regions → perspective crops →
recogniser) on scikit-image's scanned page (7 lines), and a crops-to-vectors pipeline
(nudenet's YOLOv8n at 320² → crop with 10 % padding → efficientnet-lite0-embed) on a
2 × 2 mosaic of scikit-image's astronaut (a face per tile). nudenet is AGPL: installed
by scripts/fixture.sh into a cache folder and copied into a scratch repository for the
run only.

Each stage is also served alone by the same server in the same run, at the same
concurrency: the first model on the image (images/s, R1) and the second on that image's
own crops, cut as the pipeline cuts them and sent as PNG files (crops/s, R2). With k
crops per image, the stages' bound is ``1 / (1/R1 + k/R2)`` images/s (the stages share
the cores, so their times add). Reported per pipeline and concurrency: images/s, its
share of the bound, p50 / p99 latency, and the second step's mean batch size (from the
server's statistics) against k. Requests refused with 503 (a queue at its bound: the
server sheds what it cannot queue) are counted apart and left out of the rates.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from PIL import Image

from bench.fixtures import NUDENET, nudenet_detector
from tensorgate.config import default_repository
from tensorgate.devices import cpu_count
from tensorgate.imaging.spec import ImageLimits, PreprocessSpec
from tensorgate.pipelines.crops import cut
from tensorgate.pipelines.images import open_full
from tensorgate.protocol.answers import answer_from_json
from tensorgate.repository.pipelines import CropStep
from tensorgate.server.process import spawn_server
from tensorgate.tasks.results import Detections, TextRegions
from tensorgate.zoo import pull

FACES_CROP = {"max_crops": 16, "padding": 0.1}
#: Opens an image as it is (the crops are cut from the full-size original).
AS_IS = PreprocessSpec(resize=None, crop=None)


@dataclass(frozen=True, slots=True)
class Pipeline:
    name: str
    task: str
    first: str
    second: str
    crop: CropStep
    image: bytes


@dataclass(frozen=True, slots=True)
class Rate:
    per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def page_png() -> bytes:
    from skimage import data

    return png(Image.fromarray(data.page()).convert("RGB"))


def mosaic_jpeg() -> bytes:
    from skimage import data

    tile = Image.fromarray(data.astronaut())
    canvas = Image.new("RGB", (1024, 1024))
    for x in (0, 512):
        for y in (0, 512):
            canvas.paste(tile, (x, y))
    buffer = io.BytesIO()
    canvas.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def repository(scratch: Path) -> Path:
    repo = scratch / "repository"
    zoo = default_repository()
    pull("pp-ocrv6", zoo)
    for name in ("pp-ocrv6", "pp-ocrv6-det", "pp-ocrv6-rec", "efficientnet-lite0-embed"):
        shutil.copytree(pull(name, zoo).directory, repo / name)
    nudenet_detector(repo, max_batch_size=16, pad=114)
    (repo / "faces").mkdir()
    steps = [
        {"name": "found", "model": NUDENET},
        {"name": "crops", "crop": FACES_CROP},
        {"name": "vector", "model": "efficientnet-lite0-embed"},
    ]
    (repo / "faces" / "config.yaml").write_text(
        yaml.safe_dump({"name": "faces", "pipeline": steps})
    )
    return repo


async def drive(url: str, bodies: list[bytes], concurrency: int, seconds: float) -> Rate:
    """Closed loop: ``concurrency`` callers POST ``bodies`` round-robin for ``seconds``."""
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    async with httpx.AsyncClient(timeout=120.0) as client:

        async def caller(offset: int) -> None:
            nonlocal errors
            i = offset
            while time.perf_counter() < stop:
                started = time.perf_counter()
                answer = await client.post(url, content=bodies[i % len(bodies)])
                if answer.status_code == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1
                i += 1

        began = time.perf_counter()
        await asyncio.gather(*(caller(c) for c in range(concurrency)))
        elapsed = time.perf_counter() - began
    ordered = sorted(latencies) or [float("nan")]
    return Rate(
        len(latencies) / elapsed,
        statistics.median(ordered) * 1000,
        ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000,
        errors,
    )


def counters(base: str, model: str) -> tuple[int, int]:
    (entry,) = httpx.get(f"{base}/v2/models/{model}/stats").json()["model_stats"]
    return int(entry["inference_count"]), int(entry["execution_count"])


def crops_of(base: str, pipeline: Pipeline) -> list[bytes]:
    """The image's crops as the pipeline cuts them, as PNG files."""
    route = f"{base}/v2/models/{pipeline.first}/{pipeline.task}"
    doc = httpx.post(route, content=pipeline.image, timeout=60).json()["results"][0]
    answer = answer_from_json(pipeline.task, doc)
    assert isinstance(answer, Detections | TextRegions)
    image, _ = open_full(pipeline.image, ImageLimits(), AS_IS)
    out = [cut(image, item, pipeline.crop) for item in answer.items]
    return [png(c) for c in out if c is not None]


async def measure(base: str, pipeline: Pipeline, levels: tuple[int, ...], seconds: float) -> None:
    crops = crops_of(base, pipeline)
    k = len(crops)
    second_task = "text-recognize" if pipeline.task == "text-detect" else "embed"
    first_url = f"{base}/v2/models/{pipeline.first}/{pipeline.task}"
    second_url = f"{base}/v2/models/{pipeline.second}/{second_task}"
    own_url = f"{base}/v2/models/{pipeline.name}/{pipeline.task}"
    await drive(own_url, [pipeline.image], 4, 1.0)  # warm-up
    for level in levels:
        r1 = await drive(first_url, [pipeline.image], level, seconds)
        r2 = await drive(second_url, crops, level, seconds)
        bound = 1 / (1 / r1.per_s + k / r2.per_s)
        before = counters(base, pipeline.second)
        own = await drive(own_url, [pipeline.image], level, seconds)
        rows, runs = (a - b for a, b in zip(counters(base, pipeline.second), before, strict=True))
        refused = [
            f"{n} {r.errors}" for n, r in (("R1", r1), ("R2", r2), ("pipeline", own)) if r.errors
        ]
        print(
            f"| {pipeline.name} | {level} | {k} | {r1.per_s:.1f} | {r2.per_s:.1f} | {bound:.2f} "
            f"| {own.per_s:.2f} | {own.per_s / bound:.2f} | {own.p50_ms:.0f} | {own.p99_ms:.0f} "
            f"| {rows / max(runs, 1):.1f} |"
            + (f" refused (503): {', '.join(refused)}" if refused else "")
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--levels", default="1,8,32")
    args = parser.parse_args()
    levels = tuple(int(v) for v in args.levels.split(","))
    pipelines = (
        Pipeline(
            "pp-ocrv6",
            "text-detect",
            "pp-ocrv6-det",
            "pp-ocrv6-rec",
            CropStep("lines", "regions", max_crops=500, min_size=3),
            page_png(),
        ),
        Pipeline(
            "faces",
            "detect",
            NUDENET,
            "efficientnet-lite0-embed",
            CropStep("crops", "found", **FACES_CROP),  # type: ignore[arg-type]
            mosaic_jpeg(),
        ),
    )
    with tempfile.TemporaryDirectory(prefix="tensorgate-bench-pipelines-") as scratch:
        repo = repository(Path(scratch))
        print(f"{cpu_count()} cores; one image per request; {args.seconds:g} s per step\n")
        print(
            "| pipeline | concurrency | crops/image (k) | step 1 img/s (R1) | step 2 crops/s (R2) "
            "| bound img/s | pipeline img/s | of bound | p50 ms | p99 ms | step 2 mean batch |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        with spawn_server(repo) as server:
            for pipeline in pipelines:
                asyncio.run(measure(server.url, pipeline, levels, args.seconds))


if __name__ == "__main__":
    main()
