"""The Java client against the Python clients: same server, same photo, same load.

    .venv/bin/python -m bench.java_client [--seconds 8] [--levels 1,8]

One server (the zoo's efficientnet-lite0, two instances) and one photo (scikit-image's
cat as a JPEG). At each concurrency, a closed loop of that many callers classifies the
photo (top 5) for ``seconds`` after a warm-up, one client at a time: the Java client
(``clients/java``, V2 gRPC with the classification extension, via scripts/java.sh), the
Python ``tensorgate.client.Client`` (HTTP ``/classify``) and the official Python
``tritonclient.grpc`` (the Java client's protocol). Prints images/s and p50 / p99.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tensorgate.client import Client
from tensorgate.config import default_repository
from tensorgate.server.process import spawn_server
from tensorgate.zoo import pull

ROOT = Path(__file__).resolve().parent.parent


def cat_jpeg(folder: Path) -> Path:
    from PIL import Image
    from skimage import data

    path = folder / "cat.jpg"
    Image.fromarray(data.chelsea()).save(path, quality=92)
    return path


def closed_loop(
    call: Callable[[], object], callers: int, seconds: float
) -> tuple[float, float, float]:
    """(images/s, p50 ms, p99 ms) of ``callers`` threads each calling ``call`` in turn."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def caller() -> None:
        while time.perf_counter() < stop:
            started = time.perf_counter()
            call()
            with lock:
                latencies.append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=caller) for _ in range(callers)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    ordered = sorted(latencies)
    return (
        len(ordered) / elapsed,
        statistics.median(ordered),
        ordered[int(0.99 * (len(ordered) - 1))],
    )


def measured(
    call: Callable[[], object], callers: int, seconds: float
) -> tuple[float, float, float]:
    closed_loop(call, callers, 1.0)  # warm-up: connections, the first batches
    return closed_loop(call, callers, seconds)


def python_http(url: str, photo: bytes) -> Callable[[], object]:
    client = Client(url, "efficientnet-lite0")
    return lambda: client.predict([photo], top_k=5).result()


def python_grpc(target: str, photo: bytes) -> Callable[[], object]:
    import tritonclient.grpc as grpcclient

    local = threading.local()

    def call() -> object:
        if not hasattr(local, "client"):  # one client (channel) per thread, as is usual
            local.client = grpcclient.InferenceServerClient(target)
        image = grpcclient.InferInput("input", [1], "BYTES")
        image.set_data_from_numpy(np.array([photo], dtype=object))
        ranked = grpcclient.InferRequestedOutput("logits", class_count=5)
        return local.client.infer("efficientnet-lite0", [image], outputs=[ranked])

    return call


def java(target: str, photo: Path, seconds: float, callers: int) -> tuple[float, float, float]:
    done = subprocess.run(
        [
            "bash",
            str(ROOT / "scripts" / "java.sh"),
            "bench",
            target,
            str(photo),
            str(seconds),
            str(callers),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"java: ([\d.]+) img/s, p50 ([\d.]+) ms, p99 ([\d.]+) ms", done.stdout)
    if found is None:
        raise SystemExit(f"the Java bench printed no figures:\n{done.stdout}\n{done.stderr}")
    return float(found.group(1)), float(found.group(2)), float(found.group(3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--levels", default="1,8")
    args = parser.parse_args()
    subprocess.run(["bash", str(ROOT / "scripts" / "java.sh"), "build"], check=True)
    with tempfile.TemporaryDirectory(prefix="tensorgate-bench-java-") as scratch:
        photo_path = cat_jpeg(Path(scratch))
        photo = photo_path.read_bytes()
        repository = Path(scratch) / "repository"
        pull("efficientnet-lite0", default_repository())
        import shutil

        shutil.copytree(
            default_repository() / "efficientnet-lite0", repository / "efficientnet-lite0"
        )
        print("| client | protocol | concurrency | img/s | p50 ms | p99 ms |")
        print("| --- | --- | --- | --- | --- | --- |")
        with spawn_server(repository, "--instances", "2") as server:
            assert server.grpc is not None
            grpc = server.grpc
            for level in (int(v) for v in args.levels.split(",")):
                results = [
                    (
                        "Java TensorgateClient | V2 gRPC",
                        java(grpc, photo_path, args.seconds, level),
                    ),
                    (
                        "Python Client | HTTP /classify",
                        measured(python_http(server.url, photo), level, args.seconds),
                    ),
                    (
                        "Python tritonclient | V2 gRPC",
                        measured(python_grpc(grpc, photo), level, args.seconds),
                    ),
                ]
                for name, (rate, p50, p99) in results:
                    print(f"| {name} | {level} | {rate:.1f} | {p50:.1f} | {p99:.1f} |")


if __name__ == "__main__":
    main()
