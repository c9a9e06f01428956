"""A client that goes away: its queued request is dropped before it runs (ASGI level,
in-process, driven by events — no sleeps)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import numpy as np

from tensorgate import Engine, EngineSettings
from tensorgate.protocol.models import statistics_v2
from tensorgate.runtimes.base import RuntimeOptions
from tensorgate.runtimes.fake import FakeRuntime, fake_outputs
from tensorgate.server.app import create_app
from tensorgate.types import Tensors
from tests.helpers import build_test_repository


async def test_disconnected_client_request_never_runs(tmp_path: Path) -> None:
    started = threading.Event()
    release = threading.Event()
    runtimes: list[FakeRuntime] = []

    def factory(path: Path, options: RuntimeOptions) -> FakeRuntime:
        def hold_first(inputs: Tensors) -> Tensors:
            if float(inputs["x"][0, 0]) == 1.0:
                started.set()
                release.wait(timeout=60)
            return fake_outputs(inputs, options.outputs)

        runtime = FakeRuntime(options.inputs, options.outputs, hold_first)
        runtimes.append(runtime)
        return runtime

    repo = build_test_repository(tmp_path / "repo")
    settings = EngineSettings(repository=repo, models=("fake",), instances=1)
    engine = Engine(settings, factories={"fake": factory})
    await engine.start()
    app = create_app(engine)
    try:
        first = asyncio.ensure_future(engine.infer("fake", {"x": np.ones((1, 3), np.float32)}))
        await asyncio.to_thread(started.wait, 60)  # the only instance is now busy

        body = json.dumps(
            {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [2, 2, 2]}]}
        ).encode()
        gone = asyncio.Event()
        listening = asyncio.Event()
        messages: list[MutableMapping[str, Any]] = []
        received = 0

        async def receive() -> dict[str, Any]:
            nonlocal received
            received += 1
            if received == 1:
                return {"type": "http.request", "body": body, "more_body": False}
            listening.set()  # the route now waits on the engine and watches the client
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            messages.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v2/models/fake/infer",
            "raw_path": b"/v2/models/fake/infer",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"content-type", b"application/json")],
            "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 8000),
        }
        second = asyncio.ensure_future(app(scope, receive, send))
        await listening.wait()
        assert engine._registry.model("fake").batcher.queued_rows == 1
        gone.set()  # the client hangs up while its request waits in the queue
        await second
        assert messages[0]["status"] == 499

        release.set()
        await first
        assert runtimes[0].calls[-1] == 1
        assert sum(runtimes[0].calls) == 2  # warm-up row + the first request only
        (stats,) = [statistics_v2(v) for v in engine.statistics("fake")]
        assert stats["inference_stats"]["fail"]["count"] == 1  # the cancelled request
    finally:
        release.set()
        await engine.stop()
