"""Hostile clients against a real server: connections that send nothing, headers
dribbled byte by byte, thousands of idle connections, oversized headers, smuggling
probes, slow bodies and gRPC messages over the limit. Each is cut off or refused, and
well-behaved requests keep being answered meanwhile."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from bench.hostile import rapid_reset
from starlette.requests import Request
from tritonclient.utils import InferenceServerException

from tensorgate.errors import SlowRequestError
from tensorgate.server.http import read_body
from tensorgate.server.process import ServerProcess, spawn_server
from tests.helpers import build_test_repository

HEADER_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    repository = build_test_repository(tmp_path_factory.mktemp("repository"))
    with spawn_server(
        repository, "--header-timeout", str(HEADER_TIMEOUT_S), "--instances", "1"
    ) as server:
        yield server


def connect(server: ServerProcess) -> socket.socket:
    host, port = server.host_port.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=10)


def answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def served(server: ServerProcess) -> bool:
    """A well-behaved request is answered."""
    return httpx.get(f"{server.url}/v2/health/live", timeout=5).status_code == 200


def test_a_connection_that_sends_nothing_is_closed(guarded: ServerProcess) -> None:
    with connect(guarded) as sock:
        started = time.monotonic()
        got = answer(sock)
    assert got.startswith(b"HTTP/1.1 408")
    assert HEADER_TIMEOUT_S * 0.9 <= time.monotonic() - started < HEADER_TIMEOUT_S + 3


def test_slowloris_headers_are_cut_off_while_others_are_served(guarded: ServerProcess) -> None:
    request = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    with connect(guarded) as sock:
        sock.settimeout(0.1)
        started = time.monotonic()
        closed = False
        for byte in request:
            try:
                sock.send(bytes([byte]))
            except OSError:  # the server closed it
                closed = True
                break
            assert served(guarded)
            try:
                if sock.recv(65536).startswith(b"HTTP/1.1 408"):
                    closed = True
                    break
            except TimeoutError:
                pass
            if time.monotonic() - started > HEADER_TIMEOUT_S + 3:
                break
    assert closed, "the dribbling connection was never cut off"


def test_thousands_of_idle_connections_do_not_stop_the_server(guarded: ServerProcess) -> None:
    idle = [connect(guarded) for _ in range(2000)]
    try:
        answered = sum(served(guarded) for _ in range(20))
        assert answered == 20
        for sock in idle[:50]:  # each is closed at the header deadline
            assert answer(sock).startswith(b"HTTP/1.1 408")
    finally:
        for sock in idle:
            sock.close()
    assert served(guarded)


def test_oversized_headers_get_431(guarded: ServerProcess) -> None:
    with connect(guarded) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 100_000)
        got = answer(sock)
    assert got.startswith(b"HTTP/1.1 431")
    assert b"over 65536 bytes" in got
    assert served(guarded)


def test_an_oversized_head_sent_whole_gets_431_before_it_runs(guarded: ServerProcess) -> None:
    """Headers, blank line and all, in one write: the parser would take the whole head in
    one chunk; the size is checked before it does."""
    with connect(guarded) as sock:
        sock.sendall(
            b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 100_000 + b"\r\n\r\n"
        )
        got = answer(sock)
    assert got.startswith(b"HTTP/1.1 431"), got[:200]
    assert got.count(b"HTTP/1.1") == 1
    with connect(guarded) as sock:  # a kept-alive connection's second head is measured too
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        sock.sendall(
            b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 100_000 + b"\r\n\r\n"
        )
        assert answer(sock).startswith(b"HTTP/1.1 431")
    assert served(guarded)


def test_a_body_then_the_next_head_in_one_chunk_is_not_counted_as_a_head(
    guarded: ServerProcess,
) -> None:
    """A kept-alive connection whose next request arrives with the end of the previous
    body, then a body of its own larger than the head limit: both answered."""
    body = b"{" + b" " * 200_000 + b"}"
    head = (
        b"POST /v2/repository/index HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    with connect(guarded) as sock:
        sock.sendall(head + body[:-10])
        sock.sendall(body[-10:] + head + body)  # one write: the end, a head, a body
        got = b""
        while got.count(b"HTTP/1.1 ") < 2:
            chunk = sock.recv(65536)
            assert chunk, got
            got += chunk
    assert got.count(b"HTTP/1.1 200") == 2, got[:300]


def test_smuggling_probes_are_refused_and_nothing_is_smuggled(guarded: ServerProcess) -> None:
    smuggled = b"GET /v2/models/stats HTTP/1.1\r\nHost: x\r\n\r\n"
    probe = (
        b"POST /v2/repository/index HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled
    )
    with connect(guarded) as sock:
        sock.sendall(probe)
        got = answer(sock)
    assert got.startswith(b"HTTP/1.1 400")
    assert got.count(b"HTTP/1.1") == 1  # the second request was not read as one
    assert served(guarded)


def test_a_grpc_message_over_the_limit_is_refused(guarded: ServerProcess) -> None:
    assert guarded.grpc is not None
    client = grpcclient.InferenceServerClient(guarded.grpc)
    big = grpcclient.InferInput("INPUT0", [1, 20_000_000], "FP32")  # 80 MB > 64 MiB
    big.set_data_from_numpy(np.zeros((1, 20_000_000), np.float32))
    with pytest.raises(InferenceServerException) as caught:
        client.infer("add_sub_fp32", [big, big])
    assert "RESOURCE_EXHAUSTED" in str(caught.value.status()) or "larger than max" in str(
        caught.value
    )
    assert client.is_server_live()


async def test_a_body_dribbled_past_the_deadline_gets_408() -> None:
    """read_body's deadline, on a request whose body never finishes."""

    async def receive() -> dict[str, object]:
        await asyncio.sleep(0.05)
        return {"type": "http.request", "body": b"x", "more_body": True}

    scope = {"type": "http", "method": "POST", "headers": [], "path": "/"}
    request = Request(scope, receive)
    with pytest.raises(SlowRequestError, match=r"did not arrive within 0\.3 s"):
        await read_body(request, 1_000_000, timeout_s=0.3)


def test_an_http2_rapid_reset_flood_leaves_grpc_serving(guarded: ServerProcess) -> None:
    """CVE-2023-44487: streams opened and reset at once, thousands of them; the server
    stays up, well-behaved gRPC and HTTP calls keep being answered."""
    assert guarded.grpc is not None
    client = grpcclient.InferenceServerClient(guarded.grpc)
    flood = threading.Thread(target=rapid_reset, args=(guarded.grpc, 20_000))
    flood.start()
    try:
        while flood.is_alive():
            assert client.is_server_live()
            assert served(guarded)
    finally:
        flood.join()
    assert client.is_server_live()
    assert guarded.process.poll() is None
