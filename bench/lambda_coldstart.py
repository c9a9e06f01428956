"""The Lambda function's cold start and warm latency, on one pinned core under a memory
limit like a Lambda function's, through the real runtime client (awslambdaric) and the
Runtime API emulator of the tests.

    .venv/bin/python -m bench.lambda_coldstart [--runs 10] [--warm 50] [--memory-mb 2048]

Each run starts a fresh process (`taskset -c 0`, its address space capped like the
function's memory size) with a Function URL event for the cat already queued, and times,
from the process start: the end of init (the runtime's first request for an event:
imports, model load, session creation, warm-up inference) and the first answer. Then
``--warm`` more events through the same process give the warm latency (from queueing the
event to its answer). The import time alone (`python -X importtime` of the handler's
imports, model loading excluded) is shown beside it.
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
from pathlib import Path

import numpy as np
from tests.serverless.runtime_api import RuntimeApi

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


def one_run(
    repository: Path, event: dict[str, object], warm: int, memory_mb: int
) -> tuple[float, float, list[float]]:
    with RuntimeApi() as api:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/tmp"),
            "TENSORGATE_REPOSITORY": str(repository),
            "AWS_LAMBDA_RUNTIME_API": api.address,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "OMP_NUM_THREADS": "1",
        }
        command = [
            "taskset", "-c", "0", sys.executable, "-m", "awslambdaric",
            "tensorgate.serverless.handler.handler",
        ]  # fmt: skip
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


def import_seconds() -> float:
    """`python -X importtime` of the handler's imports, without building the function."""
    code = "import tensorgate.serverless.function, tensorgate.server.app"
    out = subprocess.run(
        ["taskset", "-c", "0", sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    total = 0
    for line in out.stderr.splitlines():
        parts = line.split("|")
        top_level = len(parts) == 3 and parts[2].startswith(" ") and parts[2][1:2] != " "
        if top_level and parts[1].strip().isdigit():
            total += int(parts[1])  # cumulative µs of each top-level import
    return total / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warm", type=int, default=50)
    parser.add_argument("--memory-mb", type=int, default=2048)
    args = parser.parse_args()

    event = cat_event()
    with tempfile.TemporaryDirectory() as scratch:
        repository = Path(scratch) / "models"
        shutil.copytree(default_repository() / MODEL, repository / MODEL)
        imports = [import_seconds() for _ in range(3)]
        inits, firsts, warm = [], [], []
        for _ in range(args.runs):
            init, first, warm_s = one_run(repository, event, args.warm, args.memory_mb)
            inits.append(init)
            firsts.append(first)
            warm += warm_s
    warm.sort()
    print(f"one core (taskset -c 0), address space capped at {args.memory_mb} MiB")
    print(f"imports (python -X importtime):       median {statistics.median(imports):.3f} s")
    print(
        f"process start -> init done:           median {statistics.median(inits):.3f} s, "
        f"max {max(inits):.3f} s (n={args.runs})"
    )
    print(
        f"process start -> first answer:        median {statistics.median(firsts):.3f} s, "
        f"max {max(firsts):.3f} s (n={args.runs})"
    )
    p99 = warm[min(len(warm) - 1, int(len(warm) * 0.99))]
    print(
        f"warm invocation (event -> answer):    median {statistics.median(warm) * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms (n={len(warm)})"
    )


if __name__ == "__main__":
    main()
