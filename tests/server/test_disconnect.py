"""A client that goes away: its queued request is dropped before it runs (ASGI level,
in-process, driven by events — no sleeps; and over a real server's sockets)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from tensorgate import Engine, EngineSettings
from tensorgate.protocol.models import statistics_v2
from tensorgate.runtimes.base import RuntimeOptions
from tensorgate.runtimes.fake import FakeRuntime, fake_outputs
from tensorgate.server.app import create_app
from tensorgate.server.process import spawn_server
from tensorgate.types import Tensors
from tests.helpers import build_test_repository, write_model


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


def _body(rows: int) -> bytes:
    return json.dumps(
        {"inputs": [{"name": "x", "datatype": "FP32", "shape": [rows, 3], "data": [1] * 3 * rows}]}
    ).encode()


def _post(port: int, body: bytes) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", port), timeout=60)
    connection.sendall(
        b"POST /v2/models/slow/infer HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(body), body)
    )
    return connection


def _metric(url: str, name: str, labels: str) -> float:
    for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(f"{name}{{") and labels in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_real_server_drops_the_queued_request_of_a_client_that_hung_up(
    tmp_path: Path,
) -> None:
    # Over uvicorn the connection's loss cancels the handler through the protocol's
    # disconnect callbacks (no watcher task): the queued request never reaches the model.
    repo = tmp_path / "repo"
    spec = {
        "backend": "fake",
        "max_batch_size": 4,
        "instance_group": {"count": 1},
        "inputs": [{"name": "x", "datatype": "FP32", "dims": [3]}],
        "outputs": [{"name": "y", "datatype": "FP32", "dims": [2]}],
    }
    directory = write_model(repo, "slow", None, spec)
    (directory / "1" / "model.fake").write_text('{"delay_s": 1.5}\n')
    with (
        spawn_server(repo, "--grpc-port", "-1", "--instances", "1") as server,
        contextlib.ExitStack() as sockets,
    ):
        port = int(server.url.rsplit(":", 1)[1])
        # The queue-depth gauge is set as each request is queued: 1 once the first is
        # (the instance takes it at once), 3 once the second, of 3 rows, waits behind it.
        first = sockets.enter_context(_post(port, _body(1)))  # 1.5 s on the only instance
        deadline = time.monotonic() + 30
        while _metric(server.url, "tensorgate_queue_depth", 'model="slow"') != 1:
            assert time.monotonic() < deadline, "the first request never arrived"
        second = sockets.enter_context(_post(port, _body(3)))
        while _metric(server.url, "tensorgate_queue_depth", 'model="slow"') != 3:
            assert time.monotonic() < deadline, "the second request was never queued"
        second.close()  # hangs up while its request waits in the queue
        while _metric(server.url, "tensorgate_requests_total", 'outcome="cancelled"') < 1:
            assert time.monotonic() < deadline, "the hung-up request was not cancelled"
        assert first.recv(65536).startswith(b"HTTP/1.1 200 ")
        stats = httpx.get(server.url + "/v2/models/slow/stats", timeout=10).json()
        (model,) = stats["model_stats"]
        assert model["inference_count"] == 1  # the first request only
        assert model["inference_stats"]["fail"]["count"] == 1  # the cancelled one
