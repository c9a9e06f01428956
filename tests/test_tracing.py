"""OpenTelemetry spans per request and stage, over real HTTP and gRPC doors on loopback
(an in-memory exporter in this process); the caller's traceparent is continued."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.grpc.aio as grpcclient
import uvicorn
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tensorgate import Engine, EngineSettings
from tensorgate.config import ServerSettings
from tensorgate.grpc.service import create_grpc_server
from tensorgate.server.app import create_app
from tensorgate.tracing import configure_tracing, disable_tracing
from tests.helpers import build_test_repository

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


class Doors:
    def __init__(self, url: str, grpc: str, spans: InMemorySpanExporter) -> None:
        self.url, self.grpc, self.spans = url, grpc, spans

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())


@pytest.fixture
async def doors(tmp_path: Path, lite0_dir: Path) -> AsyncIterator[Doors]:
    exporter = InMemorySpanExporter()
    configure_tracing(exporter)
    repository = build_test_repository(tmp_path / "repository", lite0_dir)
    engine = Engine(EngineSettings(repository=repository, instances=1))
    settings = ServerSettings(port=0, grpc_port=0, access_log=False)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(create_app(engine, settings), lifespan="on", log_config=None)
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)
    grpc_server, grpc_port = create_grpc_server(engine, settings)
    await grpc_server.start()
    try:
        port = sock.getsockname()[1]
        yield Doors(f"http://127.0.0.1:{port}", f"127.0.0.1:{grpc_port}", exporter)
    finally:
        await grpc_server.stop(None)
        server.should_exit = True
        await serving
        disable_tracing()


def by_name(spans: list[ReadableSpan], trace: str = TRACE) -> dict[str, list[ReadableSpan]]:
    found: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        if span.context is not None and f"{span.context.trace_id:032x}" == trace:
            found.setdefault(span.name, []).append(span)
    return found


def within(child: ReadableSpan, parent: ReadableSpan, slack_ns: int = 2_000_000) -> bool:
    assert child.start_time is not None
    assert child.end_time is not None
    assert parent.start_time is not None
    assert parent.end_time is not None
    return (
        child.start_time >= parent.start_time - slack_ns
        and child.end_time <= parent.end_time + slack_ns
    )


async def test_an_http_request_continues_the_callers_trace_with_a_span_per_stage(
    doors: Doors, cat_jpeg: bytes
) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{doors.url}/v2/models/efficientnet-lite0/classify",
            content=cat_jpeg,
            headers={"traceparent": f"00-{TRACE}-{PARENT}-01"},
        )
    assert answer.status_code == 200
    spans = by_name(doors.finished())
    (request,) = spans["POST /v2/models/{name}/classify"]
    assert request.parent is not None
    assert f"{request.parent.span_id:016x}" == PARENT  # the caller's span
    attributes: Any = request.attributes
    assert attributes["tensorgate.model"] == "efficientnet-lite0"
    assert attributes["http.response.status_code"] == 200
    for stage in ("read body", "decode", "queue", "batch", "postprocess"):
        (span,) = spans[stage]
        assert span.parent is not None
        assert span.parent.span_id == request.context.span_id, stage
        assert within(span, request), stage
    batch: Any = spans["batch"][0].attributes
    assert batch["rows"] == 1
    assert batch["instance"] == 0
    assert batch["device"] == "cpu"
    assert batch["model"] == "efficientnet-lite0/1"
    assert spans["decode"][0].attributes["bytes"] == len(cat_jpeg)  # type: ignore[index]


async def test_a_grpc_infer_continues_the_trace_of_its_metadata(doors: Doors) -> None:
    client = grpcclient.InferenceServerClient(doors.grpc)
    a = grpcclient.InferInput("INPUT0", [1, 16], "FP32")
    b = grpcclient.InferInput("INPUT1", [1, 16], "FP32")
    a.set_data_from_numpy(np.ones((1, 16), np.float32))
    b.set_data_from_numpy(np.ones((1, 16), np.float32))
    await client.infer("add_sub_fp32", [a, b], headers={"traceparent": f"00-{TRACE}-{PARENT}-01"})
    await client.close()
    spans = by_name(doors.finished())
    (rpc,) = spans["grpc ModelInfer"]
    assert f"{rpc.parent.span_id:016x}" == PARENT  # type: ignore[union-attr]
    assert {"queue", "batch"} <= set(spans)


async def test_an_unsampled_caller_records_nothing(doors: Doors, cat_jpeg: bytes) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{doors.url}/v2/models/efficientnet-lite0/classify",
            content=cat_jpeg,
            headers={"traceparent": f"00-{TRACE}-{PARENT}-00"},  # flags 00: not sampled
        )
    assert answer.status_code == 200
    assert doors.finished() == []  # the default sampler follows its parent
