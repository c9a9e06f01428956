"""The image endpoint over a real loopback server: real photos in, labels out; bad
images get a 4xx naming the problem and the server keeps serving."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tensorgate.config import EngineSettings
from tensorgate.engine import Engine
from tensorgate.server.app import create_app
from tensorgate.server.process import ServerProcess
from tests.conftest import CAT_CLASSES, ESPRESSO
from tests.helpers import jpeg_bytes, png_bytes
from tests.test_registry import add_version

CLASSIFY = "/v2/models/efficientnet-lite0/classify"


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height``; no pixel data follows."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


def top1(response: httpx.Response, item: int = 0) -> dict[str, object]:
    assert response.status_code == 200, response.text
    prediction: dict[str, object] = response.json()["results"][item]["predictions"][0]
    return prediction


def test_raw_jpeg_of_a_cat_is_a_cat(http: httpx.Client, cat_jpeg: bytes) -> None:
    response = http.post(CLASSIFY, content=cat_jpeg, headers={"Content-Type": "image/jpeg"})
    best = top1(response)
    assert best["index"] in CAT_CLASSES
    body = response.json()
    assert body["model_name"] == "efficientnet-lite0"
    assert body["model_version"] == "1"
    assert len(body["results"][0]["predictions"]) == 5


def test_png_of_coffee_is_espresso(http: httpx.Client, coffee_png: bytes) -> None:
    best = top1(http.post(CLASSIFY, content=coffee_png))
    assert best["index"] == ESPRESSO
    assert best["label"] == "espresso"


def test_webp_and_multipart_with_top_k(
    http: httpx.Client, chelsea: np.ndarray, coffee: np.ndarray
) -> None:
    import io

    from PIL import Image

    webp = io.BytesIO()
    Image.fromarray(coffee).save(webp, format="WEBP", quality=90)
    files = [
        ("a", ("cat.jpg", jpeg_bytes(chelsea), "image/jpeg")),
        ("b", ("coffee.webp", webp.getvalue(), "image/webp")),
    ]
    response = http.post(CLASSIFY, files=files, params={"top_k": 2})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["filename"] for r in results] == ["cat.jpg", "coffee.webp"]
    assert results[0]["predictions"][0]["index"] in CAT_CLASSES
    assert results[1]["predictions"][0]["index"] == ESPRESSO
    assert all(len(r["predictions"]) == 2 for r in results)
    scores = [p["score"] for p in results[0]["predictions"]]
    assert scores == sorted(scores, reverse=True)


def gif_bytes() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buffer, format="GIF")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("make_body", "status", "message"),
    [
        (lambda jpg: b"", 400, "image is empty (0 bytes)"),
        (lambda jpg: b"this is not an image at all", 400, "data is not a JPEG, PNG or WebP image"),
        (lambda jpg: jpg[: len(jpg) // 2], 400, "JPEG image data is truncated or corrupt"),
        (lambda jpg: jpg[:20] + bytes(len(jpg) - 20), 400, "JPEG image"),
        (lambda jpg: gif_bytes(), 415, "image format GIF is not supported"),
        (
            lambda jpg: png_header_only(8000, 7000),
            413,
            "56,000,000 pixels; the limit is 50,000,000",
        ),
        (lambda jpg: png_header_only(20000, 100), 413, "no side may exceed 16384 pixels"),
        (lambda jpg: png_bytes(np.zeros((8, 8, 3), np.uint8)), 400, "at least 16 pixels"),
    ],
    ids=[
        "empty",
        "garbage",
        "truncated",
        "corrupt",
        "gif",
        "too-many-pixels",
        "too-long",
        "too-small",
    ],
)
def test_bad_images_get_4xx_and_server_keeps_serving(
    http: httpx.Client, cat_jpeg: bytes, make_body: object, status: int, message: str
) -> None:
    body = make_body(cat_jpeg)  # type: ignore[operator]
    response = http.post(CLASSIFY, content=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert http.get("/v2/health/ready").status_code == 200
    assert top1(http.post(CLASSIFY, content=cat_jpeg))["index"] in CAT_CLASSES


def test_oversized_body_is_413(http: httpx.Client) -> None:
    response = http.post(CLASSIFY, content=b"\xff\xd8\xff" + bytes(21 * 1024 * 1024))
    assert response.status_code == 413
    assert "the limit is 20,971,520" in response.json()["error"]


def test_bad_requests_name_the_problem(http: httpx.Client, cat_jpeg: bytes) -> None:
    response = http.post("/v2/models/nope/classify", content=cat_jpeg)
    assert response.status_code == 404
    assert "model 'nope' is not served here" in response.json()["error"]
    response = http.post(CLASSIFY, content=cat_jpeg, params={"top_k": "0"})
    assert response.status_code == 400
    assert response.json()["error"] == "top_k must be an integer >= 1, got '0'"
    response = http.post("/v2/models/add_sub_fp32/classify", content=cat_jpeg)
    assert response.status_code == 400
    assert "takes tensors, not images" in response.json()["error"]
    response = http.get("/v2/nothing-here")
    assert response.status_code == 404
    assert "no route '/v2/nothing-here'" in response.json()["error"]
    response = http.post(
        "/v2/models/add_sub_fp32/infer",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("request body is not valid JSON")


def test_metrics_expose_design_instruments(http: httpx.Client, cat_jpeg: bytes) -> None:
    http.post(CLASSIFY, content=cat_jpeg)
    text = http.get("/metrics").text
    for name in (
        "tensorgate_requests_total",
        "tensorgate_request_duration_seconds",
        "tensorgate_queue_duration_seconds",
        "tensorgate_compute_duration_seconds",
        "tensorgate_batch_size",
        "tensorgate_queue_depth",
        "tensorgate_model_load_seconds",
        "tensorgate_decode_duration_seconds",
    ):
        assert name in text, name
    assert 'tensorgate_requests_total{model="efficientnet-lite0",outcome="success"}' in text


async def test_a_version_swapped_in_while_the_body_arrives_is_the_one_named(
    tmp_path: Path, cat_jpeg: bytes
) -> None:
    """The answer names the version that computed it: here version 2, loaded while the
    request's body was still arriving (it used to name version 1, found before reading)."""
    config = {
        "backend": "fake",
        "max_batch_size": 4,
        "instance_group": {"count": 1},
        "inputs": [{"name": "x", "datatype": "FP32", "dims": [3, 16, 16]}],
        "outputs": [{"name": "y", "datatype": "FP32", "dims": [3]}],
        "preprocess": {"resize": 16, "crop": 16, "mean": [0, 0, 0], "std": [255, 255, 255]},
        "postprocess": {"softmax": False, "top_k": 1},
    }
    add_version(tmp_path, "m", 1, config=config, offset=1000)
    engine = Engine(EngineSettings(repository=tmp_path, instances=1))
    app = create_app(engine)

    async def body() -> AsyncIterator[bytes]:
        yield cat_jpeg[:1000]
        add_version(tmp_path, "m", 2, offset=2000)
        await engine.load_model("m")  # version 2 swaps in; version 1 retires
        yield cat_jpeg[1000:]

    async with engine:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post("/v2/models/m/classify", content=body())
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc["model_version"] == "2"
    assert doc["results"][0]["predictions"][0]["score"] > 2000  # and version 2 answered
