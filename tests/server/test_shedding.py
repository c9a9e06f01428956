"""Load shedding at the door: a request to a full queue is refused from its headers,
before its body is read; everything else takes the normal path."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.types import Message, Scope

from tensorgate import Engine, EngineSettings
from tensorgate.access import AccessPolicy
from tensorgate.server.shedding import shedder
from tests.test_registry import add_version

CONFIG = {
    "backend": "fake",
    "max_batch_size": 1,
    "instance_group": {"count": 1},
    "dynamic_batching": {"max_queue_size": 1},
    "inputs": [{"name": "x", "datatype": "FP32", "dims": [3, 16, 16]}],
    "outputs": [{"name": "y", "datatype": "FP32", "dims": [3]}],
    "preprocess": {"resize": 16, "crop": 16},
    "postprocess": {"softmax": False, "top_k": 1},
}


def scope(path: str, method: str = "POST", token: str | None = None) -> Scope:
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    return {"type": "http", "method": method, "path": path, "headers": headers}


async def answer(app: Any, request: Scope) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        raise AssertionError("a shed request's body must not be read")

    async def send(message: Message) -> None:
        sent.append(message)

    await app(request, receive, send)
    return sent


async def test_a_full_queue_is_refused_from_the_headers(tmp_path: Path, cat_jpeg: bytes) -> None:
    add_version(tmp_path, "m", 1, config=CONFIG)
    running, release = asyncio.Event(), asyncio.Event()

    async def held(index: int, fn: Callable[[Any], Any], arg: Any) -> Any:
        running.set()
        await release.wait()  # the first image holds the only instance
        return fn(arg)

    async with Engine(EngineSettings(repository=tmp_path, instances=1), run_sync=held) as engine:
        shed = shedder(engine, AccessPolicy(auth_token="t"))
        assert shed(scope("/v2/models/m/classify", token="t")) is None  # room: let in
        first = asyncio.create_task(engine.classify("m", [cat_jpeg]))
        await running.wait()
        queued = asyncio.create_task(engine.classify("m", [cat_jpeg]))
        while engine._registry.model("m").batcher.queued_rows < 1:  # noqa: ASYNC110
            await asyncio.sleep(0)  # one loop turn at a time until it queues

        for path in ("/v2/models/m/classify", "/v2/models/m/versions/1/infer"):
            refusal = shed(scope(path, token="t"))
            assert refusal is not None
            start, body = await answer(refusal, scope(path))
            assert start["status"] == 503
            assert (b"retry-after", b"1") in start["headers"]
            assert b"(rows queued or decoding: 1 of 1)" in body["body"]
        # Everything else goes the normal way (to its own answer):
        assert shed(scope("/v2/models/m/classify", token="wrong")) is None  # 401 there
        assert shed(scope("/v2/models/m/classify")) is None  # no token: 401 there
        assert shed(scope("/v2/models/m/classify", method="GET", token="t")) is None  # 405
        assert shed(scope("/v2/models/nope/classify", token="t")) is None  # 404
        assert shed(scope("/v2/models/m/versions/7/classify", token="t")) is None  # 404
        assert shed(scope("/v2/models/m", token="t")) is None  # metadata
        assert shed(scope("/v2/repository/models/m/load", token="t")) is None
        rejected = engine.metrics.rejected.labels("m", "QueueFullError")._value.get()
        assert rejected == 2
        release.set()
        assert len(await first) == 1
        assert len(await queued) == 1
        assert shed(scope("/v2/models/m/classify", token="t")) is None  # room again
