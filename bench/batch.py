"""The offline batch pipeline: local engine against the decode + inference bound, Ray and
Spark against the local engine, and peak memory on a 100,000-input manifest.

    .venv/bin/python -m bench.batch [--inputs 2000] [--memory-inputs 100000]
        [--engines local,ray,spark] [--skip-memory]

Throughput: manifests of ``--inputs`` and twice as many lines over 64 distinct 1.5 MP
JPEGs (the photos of bench.sources); the bound is measured in the same run, as there:
decode + preprocess images/s on one thread and onnxruntime images/s per core, combined
over the cores. Each engine runs both jobs: the difference between their times is the
time of ``--inputs`` images at full speed (its steady rate), and what is left of the
first job's time is its start-up (cluster, model load, listing, merge).

Memory: ``tensorgate batch`` in a child process over a manifest of ``--memory-inputs``
lines (8 small JPEGs repeated), its resident memory sampled from /proc as rows commit,
and the peak compared with a run of a tenth as many inputs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from bench.serving import decode_rate, raw_throughput
from bench.sources import photos
from tensorgate.config import EngineSettings, default_repository
from tensorgate.devices import cpu_count
from tensorgate.imaging.preprocess import ImagePreprocessor
from tensorgate.imaging.spec import ImageLimits
from tensorgate.jobs import run
from tensorgate.repository.manifest import load_config
from tensorgate.zoo import pull

MODEL = "efficientnet-lite0"


class Stamps:
    """A progress stream that records (time, rows done) of each progress line, for the
    steady rate between the first and the last line."""

    def __init__(self) -> None:
        self.points: list[tuple[float, int]] = []

    def write(self, text: str) -> int:
        done = text.strip().split("/", 1)[0].replace(",", "")
        if done.isdigit():
            self.points.append((time.perf_counter(), int(done)))
        return len(text)

    def steady(self) -> float | None:
        if len(self.points) < 2 or self.points[-1][0] <= self.points[0][0]:
            return None
        (t0, n0), (t1, n1) = self.points[0], self.points[-1]
        return (n1 - n0) / (t1 - t0)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def write_manifest(folder: Path, images: list[bytes], count: int, name: str) -> Path:
    for i, body in enumerate(images):
        path = folder / f"{i:03d}.jpg"
        if not path.exists():
            path.write_bytes(body)
    manifest = folder / name
    manifest.write_text("".join(f"{i % len(images):03d}.jpg\n" for i in range(count)))
    return manifest


def throughput(args: argparse.Namespace, scratch: Path) -> None:
    repository = default_repository()
    spec = load_config(repository / MODEL).preprocess
    assert spec is not None
    images = photos(64)
    cores = cpu_count()
    decode = decode_rate(ImagePreprocessor(spec, ImageLimits()), images[0], 3.0)
    infer = raw_throughput(repository / MODEL / "1" / "model.onnx", cores, 4, 3.0, True)
    bound = cores / (1 / decode + 1 / (infer / cores))
    small = write_manifest(scratch, images, args.inputs, "photos.txt")
    large = write_manifest(scratch, images, 2 * args.inputs, "photos-2x.txt")
    settings = EngineSettings(repository=repository)
    print(
        f"\n{args.inputs:,} and {2 * args.inputs:,} inputs (64 distinct 1.5 MP JPEGs), {cores} cores\n"
    )
    print(f"| measure | images/s | of bound | whole job, {args.inputs:,} inputs |")
    print("| --- | --- | --- | --- |")
    print(f"| decode + preprocess, 1 thread | {decode:.1f} | | |")
    print(f"| onnxruntime, {cores} × 1 thread, batch 4 | {infer:.1f} | | |")
    print(f"| decode + inference bound | {bound:.1f} | 1.000 | |")
    local_seconds = None
    for engine in args.engines.split(","):
        seconds = []
        stamps = Stamps()
        for manifest in (small, large):
            started = time.perf_counter()
            run(
                MODEL,
                str(manifest),
                scratch / f"{engine}.parquet",
                engine=engine,
                settings=settings,
                progress=stamps if manifest is small else None,  # type: ignore[arg-type]
                overwrite=True,
                spark_master=f"local[{cores}]",
            )
            seconds.append(time.perf_counter() - started)
        # The second job scores twice the inputs: the difference is the time of
        # args.inputs images at full speed, start-up (cluster, model load) left out.
        marginal = args.inputs / (seconds[1] - seconds[0])
        fixed = seconds[0] - args.inputs / marginal
        if local_seconds is None:
            local_seconds = seconds[0]
        versus = "" if engine == "local" else f" ({seconds[0] / local_seconds:.2f}× local)"
        print(
            f"| {engine}: steady (marginal over the 2× job) | {marginal:.1f} | "
            f"{marginal / bound:.3f} | {seconds[0]:.1f} s{versus}, of which start-up "
            f"≈ {fixed:.1f} s |"
        )
        steady = stamps.steady()
        if engine == "local" and steady is not None:
            print(
                f"| local: steady (progress lines of the first job) | {steady:.1f} | "
                f"{steady / bound:.3f} | |"
            )


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Committed:
    """Rows in the committed parts so far (each part's lines counted once)."""

    def __init__(self, parts: Path) -> None:
        self.parts = parts
        self.seen: dict[str, int] = {}

    def count(self) -> int:
        for part in self.parts.glob("part-*.jsonl"):
            if part.name not in self.seen:
                with contextlib.suppress(FileNotFoundError):
                    self.seen[part.name] = part.read_bytes().count(b"\n")
        return sum(self.seen.values())


def memory_run(scratch: Path, count: int) -> tuple[int, list[tuple[int, int]]]:
    """Peak RSS (KiB) of a ``tensorgate batch`` child over ``count`` inputs, and
    (rows committed, RSS) samples."""
    small = []
    from skimage import data

    for photo in (data.chelsea(), data.coffee(), data.rocket(), data.astronaut()):
        for size in ((320, 240), (240, 320)):
            buffer = io.BytesIO()
            Image.fromarray(photo).resize(size).save(buffer, format="JPEG", quality=90)
            small.append(buffer.getvalue())
    folder = scratch / "small"
    folder.mkdir(exist_ok=True)
    manifest = write_manifest(folder, small, count, f"manifest-{count}.txt")
    output = scratch / f"memory-{count}.parquet"
    parts = output.with_name(output.name + ".parts")
    command = [
        sys.executable, "-m", "tensorgate", "batch", "-m", MODEL, "-i", str(manifest),
        "-o", str(output), "--quiet", "--overwrite", "--commit-every", "1000",
    ]  # fmt: skip
    samples: list[tuple[int, int]] = []
    peak = 0
    progress = Committed(parts)
    with subprocess.Popen(command, stdout=subprocess.DEVNULL) as child:
        while child.poll() is None:
            try:
                rss = rss_kib(child.pid)
            except FileNotFoundError:
                break
            peak = max(peak, rss)
            samples.append((progress.count(), rss))
            time.sleep(0.25)
        assert child.returncode == 0, f"batch exited {child.returncode}"
    return peak, samples


def memory(args: argparse.Namespace, scratch: Path) -> None:
    count = args.memory_inputs
    small_peak, _ = memory_run(scratch, count // 10)
    peak, samples = memory_run(scratch, count)
    print(f"\nResident memory of `tensorgate batch` (local engine), {count:,}-input manifest\n")
    print("| rows committed | RSS MiB |")
    print("| --- | --- |")
    for fraction in (0.01, 0.1, 0.25, 0.5, 0.75, 1.0):
        reached = [(rows, rss) for rows, rss in samples if rows >= fraction * count]
        rows, rss = reached[0] if reached else samples[-1]
        print(f"| {rows:,} | {rss / 1024:.0f} |")
    print(f"| peak, {count:,} inputs | {peak / 1024:.0f} |")
    print(f"| peak, {count // 10:,} inputs | {small_peak / 1024:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", type=int, default=2000)
    parser.add_argument("--memory-inputs", type=int, default=100_000)
    parser.add_argument("--engines", default="local,ray,spark")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    pull(MODEL, default_repository())
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        if not args.skip_throughput:
            throughput(args, scratch)
        if not args.skip_memory:
            memory(args, scratch)


if __name__ == "__main__":
    main()
