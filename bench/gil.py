"""How long the serving process holds the GIL per image, by stage, and what that caps
one process at.

    .venv/bin/python -m bench.gil [--rate 80] [--seconds 20] [--decode-on instance|pool]
                                   [--format onnx|uint8]

A server (EfficientNet-Lite0, two instances) gets Poisson arrivals of the same 1.5 MP
JPEG on ``/classify`` (``bench.openloop``, its own process) while py-spy (installed once
into ``$TENSORGATE_HOME/venvs/py-spy``) samples it at 200 Hz with ``--gil``: only the
stack of the thread holding the GIL is kept, so samples ÷ (rate × seconds) is the share
of time the GIL is held. Each sample is put in one stage by the first frame, from the
leaf up, that names one (decode and preprocess, batching, inference, postprocess,
HTTP and the event loop). GIL ms per image = share × seconds ÷ images answered; one
process then tops out near 1000 ÷ that img/s, whatever the cores.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from bench.fixtures import lite0_repository
from bench.overload import open_loop
from bench.serving import jpeg_1_5mp
from tensorgate.config import default_repository, tensorgate_home
from tensorgate.server.process import spawn_server
from tensorgate.zoo import pull

PY_SPY = "py-spy==0.4.3"
HZ = 200

#: (stage, substrings of a frame "function (file:line)"), checked from the leaf upwards.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("inference (onnxruntime)", ("onnxruntime", "runtimes/onnx")),
    ("decode + preprocess", ("PIL/", "simplejpeg", "imaging/")),
    ("postprocess", ("tasks/", "postprocess", "protocol/answers")),
    ("batching", ("batching/",)),
    ("engine", ("tensorgate/engine.py",)),
    ("HTTP + event loop", ("uvicorn", "starlette", "httptools", "asyncio", "server/", "uvloop")),
)


def py_spy() -> Path:
    venv = tensorgate_home() / "venvs" / "py-spy"
    binary = venv / "bin" / "py-spy"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", PY_SPY], check=True
        )
    return binary


def stage_of(frames: list[str]) -> str:
    for frame in reversed(frames):  # collapsed stacks run root → leaf
        for name, needles in STAGES:
            if any(n in frame for n in needles):
                return name
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=80.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--decode-on", default="instance", choices=("instance", "pool"))
    parser.add_argument(
        "--format",
        default="onnx",
        choices=("onnx", "uint8"),
        help="the FP32 form, or the UINT8 one (normalised in the graph) served as the same name",
    )
    parser.add_argument(
        "--no-infer-lane", action="store_true", help="serve /classify through ASGI (the route)"
    )
    args = parser.parse_args()
    binary = py_spy()
    with tempfile.TemporaryDirectory(prefix="tensorgate-bench-gil-") as scratch:
        body = Path(scratch) / "photo.jpg"
        body.write_bytes(jpeg_1_5mp())
        repository = lite0_repository(Path(scratch))
        if args.format == "uint8":  # the same route and name, the UINT8 graph behind it
            form = pull("efficientnet-lite0", default_repository(), fmt="uint8").directory
            target = repository / "efficientnet-lite0"
            shutil.rmtree(target)
            shutil.copytree(form, target)
            config = target / "config.yaml"
            config.write_text(config.read_text().replace(form.name, target.name, 1))
        raw = Path(scratch) / "gil.txt"
        server_args = ["--instances", "2", "--no-access-log", "--decode-on", args.decode_on]
        if args.no_infer_lane:
            server_args.append("--no-infer-lane")
        with spawn_server(repository, *server_args) as server:
            open_loop(server.host_port, body, args.rate, 3.0)  # warm-up
            answers: list[list[float]] = []
            load = threading.Thread(
                target=lambda: answers.extend(
                    open_loop(server.host_port, body, args.rate, args.seconds + 2)
                )
            )
            load.start()
            subprocess.run(
                [
                    str(binary), "record", "--pid", str(server.process.pid), "--gil",
                    "--rate", str(HZ), "--duration", str(int(args.seconds)), "--format", "raw",
                    "--output", str(raw), "--nonblocking",
                ],
                check=True, capture_output=True,
            )  # fmt: skip
            load.join()
        stages: collections.Counter[str] = collections.Counter()
        leaves: collections.Counter[str] = collections.Counter()
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = [f for f in stack.split(";") if not f.startswith("thread ")]
            n = int(count)
            stages[stage_of(frames)] += n
            if frames:
                leaves[frames[-1]] += n
    answered = sum(1 for status, _, _ in answers if status == 200)
    per_s = answered / (args.seconds + 2)
    images = per_s * args.seconds  # answered while py-spy sampled
    held = sum(stages.values())
    share = held / (HZ * args.seconds)
    per_image_ms = share * args.seconds * 1000 / images
    cores = os.cpu_count() or 1
    print(
        f"{args.rate:g} img/s offered, {per_s:.1f} answered; decode on {args.decode_on}; "
        f"{args.format} model; {'ASGI path' if args.no_infer_lane else 'infer lane'}; "
        f"{cores} cores; py-spy --gil at {HZ} Hz for {args.seconds:g} s"
    )
    print(
        f"GIL held {share:.0%} of the time: {per_image_ms:.2f} ms per image -> one process "
        f"tops out near {1000 / per_image_ms:.0f} img/s\n"
    )
    print("| stage | share of GIL samples | GIL ms per image |")
    print("| --- | --- | --- |")
    for name, n in stages.most_common():
        print(f"| {name} | {n / held:.0%} | {per_image_ms * n / held:.2f} |")
    print("\nthe 12 leaves holding the GIL most:")
    for frame, n in leaves.most_common(12):
        print(f"  {n / held:5.1%}  {frame}")


if __name__ == "__main__":
    main()
