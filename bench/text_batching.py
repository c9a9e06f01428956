"""Text lines vary in width: batch them by exact width, by width buckets, or pad every
line to one width? Measured side by side on the PP-OCRv6 recogniser, in-process.

    .venv/bin/python -m bench.text_batching [--lines 192] [--concurrency 32] [--runs 2]

Lines: rendered text of 8 to 60 characters (widths ~200 to ~1,400 px at 48 px high),
sent as PNGs by ``concurrency`` callers. Variants of the same model differ only in
``preprocess.width_step`` (and the minimum width): ``exact`` (step 1: only lines of
equal width share a batch), ``bucket-N`` (widths padded up to a multiple of N) and
``pad-all`` (every line padded to 1,536 px: one shape, the most padding). Reported:
lines/s, the mean batch size, and how many strings equal the ``exact`` variant's.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import yaml
from PIL import Image, ImageDraw, ImageFont

from tensorgate.config import EngineSettings, default_repository
from tensorgate.engine import Engine
from tensorgate.tasks.results import TextLine
from tensorgate.zoo import pull

WORDS = [
    "invoice",
    "total",
    "coffee",
    "beans",
    "espresso",
    "serving",
    "vision",
    "models",
    "batch",
    "queue",
    "latency",
    "shipped",
    "harbour",
    "road",
    "northwind",
    "traders",
    "price",
    "tensor",
    "gate",
    "image",
    "lines",
    "width",
]

VARIANTS = {
    "exact": (320, 1),
    "bucket-64": (320, 64),
    "bucket-256": (320, 256),
    "pad-all": (1536, 1),
}


def lines(count: int, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    font = ImageFont.load_default(size=40)
    out = []
    for _ in range(count):
        text = ""
        target = rng.randint(8, 60)
        while len(text) < target:
            text += rng.choice(WORDS) + " "
        text = text[:target].strip()
        width = int(font.getlength(text)) + 24
        image = Image.new("RGB", (width, 56), "white")
        ImageDraw.Draw(image).text((12, 4), text, fill="black", font=font)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def repository(scratch: Path) -> Path:
    source = pull("pp-ocrv6-rec", default_repository()).directory
    repo = scratch / "repository"
    for name, (minimum, step) in VARIANTS.items():
        target = repo / f"rec-{name}"
        shutil.copytree(source, target)
        config = yaml.safe_load((target / "config.yaml").read_text())
        config["name"] = f"rec-{name}"
        config["max_batch_size"] = 16
        config["preprocess"]["resize"] = [48, minimum]
        config["preprocess"]["width_step"] = step
        (target / "config.yaml").write_text(yaml.safe_dump(config))
    return repo


async def measure(
    engine: Engine, model: str, images: list[bytes], concurrency: int
) -> tuple[float, list[str]]:
    queue = list(enumerate(images))
    texts: dict[int, str] = {}

    async def caller() -> None:
        while queue:
            index, data = queue.pop()
            result = await engine.run_images(model, [data])
            answer = result.answers[0]
            assert isinstance(answer, TextLine)
            texts[index] = answer.text

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return len(images) / (time.perf_counter() - started), [texts[i] for i in range(len(images))]


async def run(args: argparse.Namespace) -> None:
    images = lines(args.lines)
    with tempfile.TemporaryDirectory(prefix="tensorgate-text-batching-") as scratch:
        repo = repository(Path(scratch))
        settings = EngineSettings(repository=repo)
        async with Engine(settings) as engine:
            for name in VARIANTS:  # warm-up: every shape class once
                await measure(engine, f"rec-{name}", images[:16], args.concurrency)
            rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
            texts: dict[str, list[str]] = {}
            batches: dict[str, float] = {}
            for _ in range(args.runs):
                for name in VARIANTS:
                    before = engine.statistics(f"rec-{name}")[0].counters
                    rate, texts[name] = await measure(
                        engine, f"rec-{name}", images, args.concurrency
                    )
                    after = engine.statistics(f"rec-{name}")[0].counters
                    rows = after.inference_count - before.inference_count
                    runs = after.execution_count - before.execution_count
                    batches[name] = rows / runs
                    rates[name].append(rate)
    print(f"{args.lines} rendered lines, concurrency {args.concurrency}, {args.runs} runs\n")
    print("| variant | min width | width step | lines/s (runs) | mean batch | same text as exact |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, (minimum, step) in VARIANTS.items():
        same = sum(a == b for a, b in zip(texts[name], texts["exact"], strict=True))
        shown = " / ".join(f"{r:.1f}" for r in rates[name])
        print(
            f"| {name} | {minimum} | {step} | {shown} (median {statistics.median(rates[name]):.1f}) "
            f"| {batches[name]:.1f} | {same}/{len(images)} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=192)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--runs", type=int, default=2)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
