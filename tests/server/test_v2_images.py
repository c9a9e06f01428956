"""Encoded images through V2 infer: a BYTES tensor of JPEG / PNG files to an image
model, decoded and preprocessed as /classify does, with Triton's classification
extension; the official tritonclient over HTTP and gRPC gets the cat back."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from tensorgate.server.process import ServerProcess
from tests.conftest import CAT_CLASSES, ESPRESSO

MODEL = "efficientnet-lite0"


def indices(rows: np.ndarray) -> list[int]:
    """The best class index of each ``score:index:label`` row."""
    return [int(row[0].decode().split(":")[1]) for row in rows]


def photos(cat_jpeg: bytes, coffee_png: bytes) -> np.ndarray:
    return np.array([cat_jpeg, coffee_png], dtype=object)


def test_tritonclient_http_sends_photos_and_gets_classes(
    server: ServerProcess, cat_jpeg: bytes, coffee_png: bytes
) -> None:
    client = httpclient.InferenceServerClient(server.host_port)
    image = httpclient.InferInput("input", [2], "BYTES")
    image.set_data_from_numpy(photos(cat_jpeg, coffee_png))
    ranked = httpclient.InferRequestedOutput("logits", class_count=3)
    rows = client.infer(MODEL, [image], outputs=[ranked]).as_numpy("logits")
    assert rows.shape == (2, 3)
    cat, coffee = indices(rows)
    assert cat in CAT_CLASSES
    assert coffee == ESPRESSO
    score, index, label = rows[1][0].decode().split(":")
    assert (int(index), label) == (ESPRESSO, "espresso")
    assert 0.0 < float(score) <= 1.0  # the model's softmax, as /classify answers
    raw = client.infer(MODEL, [image]).as_numpy("logits")
    assert raw.shape == (2, 1000)
    assert [int(i) for i in raw.argmax(axis=1)] == [cat, coffee]


def test_tritonclient_grpc_sends_photos_and_gets_classes(
    server: ServerProcess, cat_jpeg: bytes, coffee_png: bytes
) -> None:
    assert server.grpc is not None
    client = grpcclient.InferenceServerClient(server.grpc)
    image = grpcclient.InferInput("input", [2, 1], "BYTES")
    image.set_data_from_numpy(photos(cat_jpeg, coffee_png).reshape(2, 1))
    ranked = grpcclient.InferRequestedOutput("logits", class_count=2)
    rows = client.infer(MODEL, [image], outputs=[ranked]).as_numpy("logits")
    assert rows.shape == (2, 2)
    cat, coffee = indices(rows)
    assert cat in CAT_CLASSES
    assert coffee == ESPRESSO


def test_the_same_answer_as_the_image_route(server: ServerProcess, cat_jpeg: bytes) -> None:
    client = httpclient.InferenceServerClient(server.host_port)
    image = httpclient.InferInput("input", [1], "BYTES")
    image.set_data_from_numpy(np.array([cat_jpeg], dtype=object))
    ranked = httpclient.InferRequestedOutput("logits", class_count=1)
    (row,) = client.infer(MODEL, [image], outputs=[ranked]).as_numpy("logits")
    score, index, _ = row[0].decode().split(":")
    classify = httpx.post(f"{server.url}/v2/models/{MODEL}/classify", content=cat_jpeg)
    best = classify.json()["results"][0]["predictions"][0]
    assert int(index) == best["index"]
    assert float(score) == pytest.approx(best["score"], abs=1e-5)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {
                "inputs": [
                    {"name": "input", "datatype": "BYTES", "shape": [1, 2], "data": ["a", "b"]}
                ]
            },
            "input 'input': encoded images go as a BYTES tensor [N] or [N, 1]",
        ),
        (
            {"inputs": [{"name": "input", "datatype": "BYTES", "shape": [1], "data": ["abc"]}]},
            "data is not a JPEG, PNG or WebP image",
        ),
        (
            {
                "inputs": [{"name": "x", "datatype": "BYTES", "shape": [1], "data": ["abc"]}],
                "outputs": [{"name": "logits", "parameters": {"classification": 0}}],
            },
            "output 'logits' classification must be an integer >= 1, got 0",
        ),
    ],
)
def test_bad_image_requests_are_400(server: ServerProcess, body: object, message: str) -> None:
    response = httpx.post(f"{server.url}/v2/models/{MODEL}/infer", json=body, timeout=30)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_a_corrupt_photo_over_grpc_is_invalid_argument(server: ServerProcess) -> None:
    assert server.grpc is not None
    client = grpcclient.InferenceServerClient(server.grpc)
    image = grpcclient.InferInput("input", [1], "BYTES")
    image.set_data_from_numpy(np.array([b"\xff\xd8\xff\xe0 broken"], dtype=object))
    with pytest.raises(InferenceServerException, match="JPEG image header is corrupt") as info:
        client.infer(MODEL, [image])
    assert info.value.status() == "StatusCode.INVALID_ARGUMENT"


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_the_answer_output_carries_the_routes_json(
    server: ServerProcess, cat_jpeg: bytes, protocol: str
) -> None:
    """``answer`` beside the model's outputs: each photo's task answer as the image
    route renders it (here classify's predictions), over both doors."""
    import json

    if protocol == "http":
        client: Any = httpclient.InferenceServerClient(server.host_port)
        module: Any = httpclient
    else:
        assert server.grpc is not None
        client, module = grpcclient.InferenceServerClient(server.grpc), grpcclient
    image = module.InferInput("input", [1], "BYTES")
    image.set_data_from_numpy(np.array([cat_jpeg], dtype=object))
    result = client.infer(MODEL, [image], outputs=[module.InferRequestedOutput("answer")])
    (doc,) = [json.loads(item) for item in result.as_numpy("answer")]
    assert doc["predictions"][0]["index"] in CAT_CLASSES
    assert len(doc["predictions"]) == 5
