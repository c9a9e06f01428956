"""The Lambda function's cold start and warm latency, on one pinned core under a memory
limit like a Lambda function's, through the real runtime client (awslambdaric) and the
Runtime API emulator of the tests.

    .venv/bin/python -m bench.lambda_coldstart [--runs 10] [--warm 50] [--memory-mb 2048]
                                               [--layout venv|zip|both]

Each run starts a fresh process (`taskset -c 0`, its address space capped like the
function's memory size) with a Function URL event for the cat already queued, and times,
from the process start: the end of init (the runtime's first request for an event:
imports, model load, session creation, warm-up inference) and the first answer. Then
``--warm`` more events through the same process give the warm latency (from queueing the
event to its answer). The import time alone (`python -X importtime` of the handler's
imports, model loading excluded) is shown beside it.

Layouts: ``venv`` is tensorgate's own environment (CPython 3.11, as in the container
image); ``zip`` is the package of scripts/lambda-zip.sh, unpacked and started by a CPython
3.12 as Lambda's managed python3.12 runtime starts it (tests/serverless/zip_layout.py).
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tests.serverless.runtime_api import RuntimeApi
from tests.serverless.zip_layout import HANDLER, build_zip_runtime

from tensorgate.config import default_repository

MODEL = "efficientnet-lite0"


def cat_event() -> dict[str, object]:
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(data.chelsea())).save(buffer, "JPEG", quality=90)
    path = f"/v2/models/{MODEL}/classify"
    return {
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": "top_k=1",
        "headers": {"content-type": "image/jpeg"},
        "requestContext": {"http": {"method": "POST", "path": path}},
        "body": base64.b64encode(buffer.getvalue()).decode(),
        "isBase64Encoded": True,
    }


def limited(memory_mb: int) -> None:
    """In the child: cap its address space, as Lambda's memory size caps a function."""
    limit = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@dataclass(frozen=True)
class Layout:
    name: str
    command: list[str]
    env: dict[str, str]


def one_run(
    layout: Layout, event: dict[str, object], warm: int, memory_mb: int
) -> tuple[float, float, list[float]]:
    with RuntimeApi() as api:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/tmp"),
            "AWS_LAMBDA_RUNTIME_API": api.address,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "OMP_NUM_THREADS": "1",
            **layout.env,
        }
        command = ["taskset", "-c", "0", *layout.command]
        started = time.perf_counter()
        process = subprocess.Popen(
            command, env=env, preexec_fn=lambda: limited(memory_mb), stdout=subprocess.DEVNULL
        )
        try:
            first = api.invoke(event, timeout_s=120)  # queued before init ends
            answered = time.perf_counter() - started
            assert first.kind == "response", first.body
            assert first.body["statusCode"] == 200, first.body
            assert api.first_next_at is not None
            init = api.first_next_at - started
            warm_s = [api.invoke(event).seconds for _ in range(warm)]
        finally:
            process.kill()
            process.wait()
    return init, answered, warm_s


def import_seconds(layout: Layout) -> float:
    """`python -X importtime` of the handler's imports, without building the function."""
    code = "import tensorgate.serverless.function, tensorgate.server.app"
    python = layout.command[0]
    out = subprocess.run(
        ["taskset", "-c", "0", python, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **layout.env},
    )
    total = 0
    for line in out.stderr.splitlines():
        parts = line.split("|")
        top_level = len(parts) == 3 and parts[2].startswith(" ") and parts[2][1:2] != " "
        if top_level and parts[1].strip().isdigit():
            total += int(parts[1])  # cumulative µs of each top-level import
    return total / 1e6


def layouts(which: str, repository: Path, scratch: Path) -> list[Layout]:
    out = []
    if which in ("venv", "both"):
        out.append(
            Layout(
                "venv (CPython 3.11)",
                [sys.executable, "-m", "awslambdaric", HANDLER],
                {"TENSORGATE_REPOSITORY": str(repository)},
            )
        )
    if which in ("zip", "both"):
        runtime = build_zip_runtime(scratch)
        print(f"zip: {runtime.zipped_bytes / 2**20:.1f} MiB zipped")
        out.append(Layout("zip (CPython 3.12)", runtime.command(), runtime.env()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warm", type=int, default=50)
    parser.add_argument("--memory-mb", type=int, default=2048)
    parser.add_argument("--layout", choices=("venv", "zip", "both"), default="both")
    args = parser.parse_args()

    event = cat_event()
    print(f"one core (taskset -c 0), address space capped at {args.memory_mb} MiB")
    with tempfile.TemporaryDirectory() as scratch:
        repository = Path(scratch) / "models"
        shutil.copytree(default_repository() / MODEL, repository / MODEL)
        for layout in layouts(args.layout, repository, Path(scratch)):
            imports = [import_seconds(layout) for _ in range(3)]
            inits, firsts, warm = [], [], []
            for _ in range(args.runs):
                init, first, warm_s = one_run(layout, event, args.warm, args.memory_mb)
                inits.append(init)
                firsts.append(first)
                warm += warm_s
            report(layout.name, imports, inits, firsts, warm)


def report(
    name: str, imports: list[float], inits: list[float], firsts: list[float], warm: list[float]
) -> None:
    warm = sorted(warm)
    n = len(inits)
    print(f"-- {name}")
    print(f"imports (python -X importtime):       median {statistics.median(imports):.3f} s")
    print(
        f"process start -> init done:           median {statistics.median(inits):.3f} s, "
        f"max {max(inits):.3f} s (n={n})"
    )
    print(
        f"process start -> first answer:        median {statistics.median(firsts):.3f} s, "
        f"max {max(firsts):.3f} s (n={n})"
    )
    p99 = warm[min(len(warm) - 1, int(len(warm) * 0.99))]
    print(
        f"warm invocation (event -> answer):    median {statistics.median(warm) * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms (n={len(warm)})"
    )


if __name__ == "__main__":
    main()
