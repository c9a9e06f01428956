"""End-to-end classify throughput: 1.5 MP JPEGs from S3 keys and from raw bytes, against
the decode + inference bound, measured side by side in one run.

    .venv/bin/python -m bench.sources [--seconds 10] [--concurrency 4] [--keys-per-request 8]

Starts a real SeaweedFS S3 server and a tensorgate server that may read its bucket,
uploads 64 distinct 1.5 MP JPEGs, then drives ``/classify/sources`` (S3 keys, several
per request) and ``/classify`` (raw bytes, one image per request) from client threads.
The bound is measured here too: decode + preprocess images/s on one thread, and
onnxruntime images/s per core, combined over the cores.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from tests.seaweed import seaweed_s3

from bench.serving import decode_rate, raw_throughput
from tensorgate.config import default_repository
from tensorgate.devices import cpu_count
from tensorgate.imaging.preprocess import ImagePreprocessor
from tensorgate.imaging.spec import ImageLimits
from tensorgate.repository.manifest import load_config
from tensorgate.server.process import spawn_server
from tensorgate.zoo import pull

MODEL = "efficientnet-lite0"


def photos(count: int) -> list[bytes]:
    """Distinct 1.5 MP JPEGs: chelsea, shifted and mirrored so no two are the same."""
    from skimage import data

    base = Image.fromarray(data.chelsea()).resize((1500, 1000), Image.Resampling.LANCZOS)
    pixels = np.asarray(base)
    out = []
    for i in range(count):
        variant = np.roll(pixels, shift=i * 7, axis=1)
        if i % 2:
            variant = variant[:, ::-1]
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(variant)).save(buffer, format="JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def drive(call: Callable[[int], int], threads: int, seconds: float) -> float:
    """Images/s of ``threads`` closed-loop callers; ``call(i)`` returns images done."""
    done = [0] * threads
    stop_at = time.perf_counter() + seconds

    def loop(t: int) -> None:
        i = t
        while time.perf_counter() < stop_at:
            done[t] += call(i)
            i += threads

    started = time.perf_counter()
    workers = [threading.Thread(target=loop, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(done) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--keys-per-request", type=int, default=8)
    args = parser.parse_args()
    repository = default_repository()
    pull(MODEL, repository)
    spec = load_config(repository / MODEL).preprocess
    assert spec is not None
    images = photos(64)
    cores = cpu_count()

    decode = decode_rate(ImagePreprocessor(spec, ImageLimits()), images[0], args.seconds / 2)
    infer = raw_throughput(
        repository / MODEL / "1" / "model.onnx", cores, 4, args.seconds / 2, True
    )
    bound = cores / (1 / decode + 1 / (infer / cores))

    with tempfile.TemporaryDirectory() as scratch, seaweed_s3(Path(scratch)) as s3:
        client = s3.client()
        client.create_bucket(Bucket="bench")  # type: ignore[attr-defined]
        keys = [f"photos/{i:03d}.jpg" for i in range(len(images))]
        for key, body in zip(keys, images, strict=True):
            client.put_object(Bucket="bench", Key=key, Body=body)  # type: ignore[attr-defined]
        env = {
            "AWS_ACCESS_KEY_ID": s3.access_key,
            "AWS_SECRET_ACCESS_KEY": s3.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        args_ = [
            "--model",
            MODEL,
            "--log-level",
            "warning",
            "--s3-allow",
            "bench",
            "--s3-endpoint",
            s3.endpoint,
        ]
        with (
            spawn_server(repository, *args_, env={**os.environ, **env}) as server,
            httpx.Client(
                base_url=server.url,
                timeout=120,
                limits=httpx.Limits(max_connections=args.concurrency),
            ) as http,
        ):
            per = args.keys_per_request

            def from_s3(i: int) -> int:
                chosen = [f"s3://bench/{keys[(i * per + j) % len(keys)]}" for j in range(per)]
                answer = http.post(
                    f"/v2/models/{MODEL}/classify/sources", json={"sources": chosen, "top_k": 1}
                )
                results = answer.json()["results"]
                assert all("predictions" in r for r in results), results
                return len(results)

            def from_bytes(i: int) -> int:
                answer = http.post(
                    f"/v2/models/{MODEL}/classify",
                    content=images[i % len(images)],
                    params={"top_k": 1},
                )
                assert answer.status_code == 200, answer.text
                return 1

            drive(from_bytes, args.concurrency, 1.0)  # warm-up
            raw_rate = drive(from_bytes, args.concurrency, args.seconds)
            s3_rate = drive(from_s3, args.concurrency, args.seconds)

    print(f"| measure ({cores} cores, 1.5 MP JPEGs) | value |")
    print("| --- | --- |")
    print(f"| decode + preprocess, 1 thread | {decode:.1f} img/s |")
    print(f"| onnxruntime, {cores} × 1 thread, batch 4 | {infer:.1f} img/s |")
    print(f"| decode + inference bound | {bound:.1f} img/s |")
    print(
        f"| /classify, raw bytes, {args.concurrency} client threads | {raw_rate:.1f} img/s ({raw_rate / bound:.3f} of bound) |"
    )
    print(
        f"| /classify/sources, S3 keys ({per} per request), {args.concurrency} client threads | {s3_rate:.1f} img/s ({s3_rate / bound:.3f} of bound) |"
    )


if __name__ == "__main__":
    main()
