"""The CPU container image: its size, the time from `podman run` to ready, and whether its
answers equal the host server's, measured side by side in one run.

    .venv/bin/python -m bench.container [--runs 5] [--tag localhost/tensorgate:bench]

Builds the image with scripts/container.sh (EfficientNet-Lite0 baked in), then starts it
``--runs`` times (host network, read-only root filesystem, a token) and times, from the
`podman run` call: the server's "listening" line and the first 200 of
/v2/health/ready. A host server on the same repository classifies the same photos, and
the largest difference of the top-5 scores is printed. Each container is stopped with
SIGTERM and its exit code printed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from bench.fixtures import ROOT
from tensorgate.config import default_repository
from tensorgate.server.process import spawn_server

TOKEN = "bench"
MODEL = "efficientnet-lite0"
PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")


def container_sh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "container.sh"), *args],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def photos() -> dict[str, bytes]:
    import io

    from PIL import Image
    from skimage import data

    out = {}
    for name in PHOTOS:
        buffer = io.BytesIO()
        Image.fromarray(np.asarray(getattr(data, name)())).convert("RGB").save(
            buffer, "JPEG", quality=90
        )
        out[name] = buffer.getvalue()
    return out


def top5(url: str, jpeg: bytes, token: str | None) -> list[tuple[int, float]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.post(
        f"{url}/v2/models/{MODEL}/classify?top_k=5", content=jpeg, headers=headers, timeout=30
    )
    answer.raise_for_status()
    return [(p["index"], p["score"]) for p in answer.json()["results"][0]["predictions"]]


def start(tag: str) -> tuple[subprocess.Popen[str], str, str, float, float]:
    """Run the image; return the process, its name, its URL, and the seconds from the
    `podman run` call to "listening" and to a ready answer."""
    name = f"tensorgate-bench-{free_port()}"
    port = free_port()
    command = [
        "bash", str(ROOT / "scripts" / "container.sh"), "podman", "run", "--rm",
        "--name", name, "--read-only", "--network", "host",
        "-e", "TENSORGATE_HOST=127.0.0.1", "-e", f"TENSORGATE_PORT={port}",
        "-e", f"TENSORGATE_GRPC_PORT={free_port()}", "-e", f"TENSORGATE_AUTH_TOKEN={TOKEN}",
        "-e", "TENSORGATE_NO_ACCESS_LOG=1", tag,
    ]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert process.stdout is not None
    event = json.loads(process.stdout.readline())
    listening = time.perf_counter() - started
    while httpx.get(f"{event['url']}/v2/health/ready").status_code != 200:
        time.sleep(0.01)  # only after "listening": readiness follows within milliseconds
    ready = time.perf_counter() - started
    return process, name, event["url"], listening, ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tag", default="localhost/tensorgate:bench")
    args = parser.parse_args()

    began = time.perf_counter()
    container_sh("build", "--tag", args.tag)
    print(
        f"build (base image and wheels cached after the first): {time.perf_counter() - began:.0f} s"
    )
    size = int(container_sh("podman", "image", "inspect", "--format", "{{.Size}}", args.tag).stdout)
    base = int(
        container_sh(
            "podman", "image", "inspect", "--format", "{{.Size}}",
            "localhost/tensorgate-base:bookworm",
        ).stdout
    )  # fmt: skip
    model_bytes = sum(
        p.stat().st_size for p in (default_repository() / MODEL).rglob("*") if p.is_file()
    )
    print(
        f"image {args.tag}: {size / 2**20:.0f} MiB (Debian base {base / 2**20:.0f} MiB, "
        f"model {model_bytes / 2**20:.0f} MiB, the rest tensorgate and its dependencies)"
    )

    jpegs = photos()
    listening, ready, codes = [], [], []
    inside: dict[str, list[tuple[int, float]]] = {}
    for run in range(args.runs):
        process, name, url, to_listen, to_ready = start(args.tag)
        listening.append(to_listen)
        ready.append(to_ready)
        if run == 0:
            inside = {photo: top5(url, jpeg, TOKEN) for photo, jpeg in jpegs.items()}
        container_sh("podman", "kill", "--signal", "TERM", name)
        codes.append(process.wait(timeout=90))
    print(
        f"podman run -> listening: median {statistics.median(listening):.2f} s, "
        f"max {max(listening):.2f} s (n={args.runs})"
    )
    print(
        f"podman run -> ready:     median {statistics.median(ready):.2f} s, "
        f"max {max(ready):.2f} s (n={args.runs})"
    )
    print(f"exit codes after SIGTERM: {codes}")

    with tempfile.TemporaryDirectory() as scratch:
        repository = Path(scratch) / "repository"
        shutil.copytree(default_repository() / MODEL, repository / MODEL)
        with spawn_server(repository, "--log-level", "warning") as server:
            outside = {photo: top5(server.url, jpeg, None) for photo, jpeg in jpegs.items()}
    same_labels = all([i for i, _ in inside[p]] == [i for i, _ in outside[p]] for p in jpegs)
    worst = max(abs(a[1] - b[1]) for p in jpegs for a, b in zip(inside[p], outside[p], strict=True))
    print(
        f"answers, container vs host ({len(jpegs)} photos, top 5): same classes {same_labels}, "
        f"largest score difference {worst:.2e}"
    )


if __name__ == "__main__":
    main()
