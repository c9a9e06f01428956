"""Closed-loop load from a separate process: C greenlets, each with one request in flight.

    python -m bench.loadgen tensor URL CONCURRENCY SECONDS [ROWS [MODEL DATATYPE]]
    python -m bench.loadgen prebuilt URL CONCURRENCY SECONDS [ROWS [MODEL DATATYPE]]
    python -m bench.loadgen tiny URL CONCURRENCY SECONDS
    python -m bench.loadgen jpeg URL CONCURRENCY SECONDS IMAGE_PATH

Prints one JSON line: requests, images, seconds, images_per_s and latency percentiles (ms).
The tensor mode goes through the official tritonclient (binary tensors); prebuilt sends
the same bytes encoded once (to see the server's cost without the client's); the jpeg mode
posts raw JPEG bytes to /classify with geventhttpclient. MODEL and DATATYPE default to
efficientnet-lite0 and FP32 (normalised NCHW); UINT8 sends pixels in the model's layout
(efficientnet-lite0-uint8: NHWC).
"""

from __future__ import annotations

import gevent.monkey

gevent.monkey.patch_all()

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import gevent  # noqa: E402

from bench.samples import binary_request, sample_batch  # noqa: E402
from bench.summary import print_summary  # noqa: E402


def run(call: Callable[[], None], concurrency: int, seconds: float) -> list[float]:
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    def worker() -> None:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            call()
            latencies.append(time.perf_counter() - started)

    gevent.joinall([gevent.spawn(worker) for _ in range(concurrency)], raise_error=True)
    return latencies


def tensor_call(
    url: str, concurrency: int, rows: int, model: str = "efficientnet-lite0", datatype: str = "FP32"
) -> Callable[[], None]:
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(
        url.removeprefix("http://"), concurrency=concurrency, network_timeout=120
    )
    batch = sample_batch(rows, datatype, model)
    # One input object, encoded once and sent many times, as perf_analyzer does.
    inp = httpclient.InferInput("input", list(batch.shape), datatype)
    inp.set_data_from_numpy(batch)
    out = httpclient.InferRequestedOutput("logits")

    def call() -> None:
        result = client.infer(model, [inp], outputs=[out])
        assert result.as_numpy("logits").shape == (rows, 1000)

    return call


def prebuilt_call(
    url: str, concurrency: int, rows: int, model: str = "efficientnet-lite0", datatype: str = "FP32"
) -> Callable[[], None]:
    """The same binary V2 request as tritonclient sends, encoded once: server cost only."""
    from geventhttpclient import URL, HTTPClient

    body, header_length = binary_request(rows, datatype, model)
    headers = {"Inference-Header-Content-Length": str(header_length)}
    base = URL(url)
    client = HTTPClient(base.host, base.port, concurrency=concurrency, network_timeout=120)

    def call() -> None:
        response = client.post(f"/v2/models/{model}/infer", body=body, headers=headers)
        response.read()
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")

    return call


def tiny_call(url: str, concurrency: int) -> Callable[[], None]:
    """A 16-float add/sub request (model add_sub_fp32): the per-request fixed cost."""
    from geventhttpclient import URL, HTTPClient

    data = [0.5] * 16
    body = json.dumps(
        {
            "inputs": [
                {"name": n, "shape": [1, 16], "datatype": "FP32", "data": data}
                for n in ("INPUT0", "INPUT1")
            ]
        }
    ).encode()
    base = URL(url)
    client = HTTPClient(base.host, base.port, concurrency=concurrency, network_timeout=120)

    def call() -> None:
        response = client.post("/v2/models/add_sub_fp32/infer", body=body)
        response.read()
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")

    return call


def jpeg_call(url: str, concurrency: int, image: bytes) -> Callable[[], None]:
    from geventhttpclient import URL, HTTPClient

    base = URL(url)
    client = HTTPClient(base.host, base.port, concurrency=concurrency, network_timeout=120)
    path = "/v2/models/efficientnet-lite0/classify?top_k=1"

    def call() -> None:
        response = client.post(path, body=image, headers={"Content-Type": "image/jpeg"})
        body = response.read()
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {body[:200]!r}")

    return call


def main() -> None:
    mode, url, concurrency, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    rows = 1
    if mode in ("tensor", "prebuilt"):
        rows = int(sys.argv[5]) if len(sys.argv) > 5 else 1
        make = tensor_call if mode == "tensor" else prebuilt_call
        call = make(url, concurrency, rows, *sys.argv[6:8])
    elif mode == "tiny":
        call = tiny_call(url, concurrency)
    else:
        with open(sys.argv[5], "rb") as handle:
            call = jpeg_call(url, concurrency, handle.read())
    run(call, concurrency, min(1.0, seconds / 5))  # warm-up: connections, caches
    started = time.perf_counter()
    latencies = run(call, concurrency, seconds)
    elapsed = time.perf_counter() - started
    print_summary(latencies, rows, elapsed)


if __name__ == "__main__":
    main()
