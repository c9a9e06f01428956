"""Client (futures), AsyncClient (awaitables) and Predictor (in-process): one API."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tensorgate import (
    AsyncClient,
    Client,
    EngineSettings,
    InvalidInputError,
    ModelNotFoundError,
    Predictor,
    RetryPolicy,
    UnavailableError,
)
from tensorgate.client import ImageInput
from tensorgate.server.process import ServerProcess
from tests.conftest import CAT_CLASSES, ESPRESSO


def test_client_predicts_every_kind_of_image_input(
    server: ServerProcess, tmp_path: Path, cat_jpeg: bytes, chelsea: np.ndarray, coffee_png: bytes
) -> None:
    path = tmp_path / "cat.jpg"
    path.write_bytes(cat_jpeg)
    with Client(server.url) as client:
        inputs: list[ImageInput] = [
            path,
            str(path),
            cat_jpeg,
            chelsea,
            Image.fromarray(chelsea),
            coffee_png,
        ]
        predictions = client.predict(inputs, top_k=2).result(timeout=120)
    assert [p.classes[0].index in CAT_CLASSES for p in predictions[:5]] == [True] * 5
    assert predictions[5].classes[0].index == ESPRESSO
    assert predictions[5].label == "espresso"
    assert all(len(p.classes) == 2 for p in predictions)
    assert [p.source for p in predictions[:3]] == ["cat.jpg", "cat.jpg", None]


def test_client_infer_and_errors(server: ServerProcess) -> None:
    a = np.arange(32, dtype=np.float32).reshape(2, 16)
    with Client(server.url, model="add_sub_fp32") as client:
        out = client.infer({"INPUT0": a, "INPUT1": a}).result(timeout=60)
        np.testing.assert_array_equal(out["OUTPUT0"], a * 2)
        with pytest.raises(ModelNotFoundError, match="HTTP 404: model 'nope' is not served here"):
            client.predict([b"x"], model="nope").result(timeout=60)
        with pytest.raises(InvalidInputError, match="HTTP 400: data is not a JPEG, PNG or WebP"):
            client.predict([b"not an image"], model="efficientnet-lite0").result(timeout=60)
        with pytest.raises(
            InvalidInputError, match="HTTP 400: model 'add_sub_fp32' needs input 'INPUT1'"
        ):
            client.infer({"INPUT0": a}).result(timeout=60)
    with pytest.raises(RuntimeError, match="Cannot use a closed Client"):
        client.infer({"INPUT0": a})


def classify_answer() -> bytes:
    return json.dumps(
        {
            "results": [
                {"filename": None, "predictions": [{"label": "tabby", "index": 281, "score": 0.9}]}
            ]
        }
    ).encode()


def test_503_is_retried_with_backoff_and_retry_after() -> None:
    answers = [
        httpx.Response(503, json={"error": "busy"}),
        httpx.Response(503, json={"error": "busy"}, headers={"Retry-After": "2"}),
        httpx.Response(200, content=classify_answer()),
    ]
    waits: list[float] = []
    transport = httpx.MockTransport(lambda request: answers.pop(0))
    with Client("http://tensorgate.test", transport=transport, sleep=waits.append) as client:
        (prediction,) = client.predict([b"jpeg"]).result(timeout=10)
    assert prediction.label == "tabby"
    assert waits == [0.1, 2.0]


def test_retries_run_out_with_unavailable() -> None:
    transport = httpx.MockTransport(
        lambda request: httpx.Response(503, json={"error": "queue full"})
    )
    waits: list[float] = []
    policy = RetryPolicy(attempts=3, backoff_s=0.5, max_backoff_s=0.8)
    with (
        Client(
            "http://tensorgate.test", transport=transport, retry=policy, sleep=waits.append
        ) as client,
        pytest.raises(UnavailableError, match="HTTP 503: queue full"),
    ):
        client.predict([b"jpeg"]).result(timeout=10)
    assert waits == [0.5, 0.8]


async def test_async_client(server: ServerProcess, cat_jpeg: bytes, coffee_png: bytes) -> None:
    async with AsyncClient(server.url) as client:
        cat, coffee = await client.predict([cat_jpeg, coffee_png])
        assert cat.classes[0].index in CAT_CLASSES
        assert coffee.classes[0].index == ESPRESSO
        a = np.ones((1, 16), np.float32)
        out = await client.infer({"INPUT0": a, "INPUT1": a}, model="add_sub_fp32")
        np.testing.assert_array_equal(out["OUTPUT1"], a * 0)
        with pytest.raises(ModelNotFoundError):
            await client.predict([cat_jpeg], model="nope")


def test_predictor_in_process(zoo_repository: Path, cat_jpeg: bytes, chelsea: np.ndarray) -> None:
    settings = EngineSettings(repository=zoo_repository, instances=1)
    with Predictor(settings) as predictor:
        cat, array_cat = predictor.predict([cat_jpeg, chelsea], top_k=3).result(timeout=60)
        logits = predictor.infer({"input": np.zeros((2, 3, 224, 224), np.float32)}).result(
            timeout=60
        )
    assert cat.classes[0].index in CAT_CLASSES
    assert array_cat.classes[0].index in CAT_CLASSES
    assert len(cat.classes) == 3
    assert logits["logits"].shape == (2, 1000)
    with pytest.raises(RuntimeError, match="Cannot use a closed Predictor"):
        predictor.predict([cat_jpeg])


def test_connection_failures_are_retried_then_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    waits: list[float] = []
    policy = RetryPolicy(attempts=3, backoff_s=0.25)
    with (
        Client(
            "http://tensorgate.test",
            transport=httpx.MockTransport(refuse),
            retry=policy,
            sleep=waits.append,
        ) as client,
        pytest.raises(UnavailableError, match=r"cannot reach http://tensorgate\.test"),
    ):
        client.infer({"x": np.zeros((1, 3), np.float32)}).result(timeout=10)
    assert waits == [0.25, 0.5]


def test_retry_policy_is_pure() -> None:
    policy = RetryPolicy(attempts=3, backoff_s=1.0, max_backoff_s=3.0)
    assert policy.retry_in(1, 503, None) == 1.0
    assert policy.retry_in(2, 503, "10") == 3.0  # Retry-After, capped
    assert policy.retry_in(3, 503, None) is None  # attempts used up
    assert policy.retry_in(1, 500, None) is None  # only 503 and connection failures
    assert policy.retry_in(1, 200, None) is None
