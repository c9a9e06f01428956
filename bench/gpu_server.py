"""One GPU behind the HTTP server: how many server processes feed it.

    python -m bench.gpu_server --repository DIR --model NAME [--device cuda:0]
                               [--workers 1,2,4] [--images 1] [--clients 4]
                               [--concurrency 64] [--seconds 8] [--size 640x480]
                               [--out results.json]

bench/gpu.py found one process's Python per image (~0.25 ms at 4,000 img/s) bounding
the in-process engine at a third of what an H200 runs EfficientNet-Lite0 at. Here the
server answers ``POST /v2/models/NAME/classify`` (raw JPEG bodies, the infer lane) with
``--workers W`` processes sharing the port, each with its own instances on the same
device; the load comes from ``--clients`` ``tensorgate bench`` processes (closed loop,
``--concurrency`` requests in flight in all), so one client's Python does not cap the
figure. ``--images 1,8`` also sends eight JPEGs per request (a multipart form: one
queue entry per instance, not one per image), with as many images in flight. Prints img/s, p50 and p99 per W and
images per request (p50: the clients' median; p99: their worst).
Runs on the CPU too (``--device cpu``), which is how tests/test_bench.py smoke-tests it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.imaging.test_accuracy import photo_jpeg

from tensorgate.server.process import spawn_server


def load(url: str, model: str, image: Path, clients: int, concurrency: int, seconds: float,
         scratch: Path, images: int = 1) -> dict[str, Any]:  # fmt: skip
    """``clients`` closed-loop ``tensorgate bench`` processes at once; their sum."""
    each = max(1, concurrency // clients)
    started = []
    for index in range(clients):
        out = scratch / f"client{index}.json"
        command = [
            sys.executable, "-m", "tensorgate", "bench", "--url", url, "--model", model,
            "--payload", "image", "--image", str(image), "--concurrency", str(each),
            "--seconds", str(seconds), "--warmup", "2", "--output", str(out),
        ]  # fmt: skip
        if images > 1:
            command += ["--rows", str(images), "--image-as", "form", "--field", "images"]
        started.append((subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, text=True), out))  # fmt: skip
    steps = []
    for process, out in started:
        _, errors = process.communicate(timeout=seconds + 120)
        if process.returncode != 0:
            raise SystemExit(f"a load client failed: {errors[-500:]}")
        (step,) = json.loads(out.read_text())
        steps.append(step)
    p50s = sorted(s["p50_ms"] for s in steps)
    return {
        "img_s": sum(s["images_per_s"] for s in steps),
        "p50_ms": p50s[len(p50s) // 2],
        "p99_ms": max(s["p99_ms"] for s in steps),
        "errors": sum(s["errors"] for s in steps),
        "server_batch": sum(s["server_batch_size"] for s in steps) / len(steps),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", type=Path, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--images", default="1", help="JPEGs per request, comma-separated")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--size", default="640x480", help="photo size, WxH")
    parser.add_argument(
        "--serve-arg", action="append", default=[], metavar="--NAME=VALUE",
        help="one more `tensorgate serve` option (repeatable): --serve-arg=--sessions-per-size=never",
    )  # fmt: skip
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tensorgate-gpu-server-") as folder:
        scratch = Path(folder)
        image = scratch / "photo.jpg"
        image.write_bytes(photo_jpeg("chelsea", (width, height)))
        for workers in (int(w) for w in args.workers.split(",")):
            serve = (
                "--model", args.model, "--device", args.device, "--workers", str(workers),
                "--max-queue-delay-ms", "0", "--log-level", "warning", "--no-access-log",
                "--grpc-port", "-1", *args.serve_arg,
            )  # fmt: skip
            began = time.perf_counter()
            with spawn_server(args.repository, *serve, start_timeout=600.0) as server:
                ready_s = time.perf_counter() - began
                for per_request in (int(n) for n in args.images.split(",")):
                    # the same images in flight whatever the request carries
                    in_flight = max(args.clients, args.concurrency // per_request)
                    row = load(
                        server.url, args.model, image, args.clients, in_flight,
                        args.seconds, scratch, per_request,
                    )  # fmt: skip
                    row["ready_s"] = ready_s
                    rows[f"{workers} x {per_request}"] = row
                    print(f"workers {workers}, {per_request} a request: {row}",
                          file=sys.stderr, flush=True)  # fmt: skip
                    if args.out:
                        args.out.write_text(json.dumps(rows, indent=1))
    print(f"{args.model} on {args.device}, {args.size} JPEGs, {args.clients} clients, "
          f"concurrency {args.concurrency}")  # fmt: skip
    print(
        "| workers x JPEGs a request | img/s | p50 ms | p99 ms | server batch | ready s | errors |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for key, row in rows.items():
        print(
            f"| {key} | {row['img_s']:.0f} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | "
            f"{row['server_batch']:.1f} | {row['ready_s']:.1f} | {row['errors']} |"
        )


if __name__ == "__main__":
    main()
