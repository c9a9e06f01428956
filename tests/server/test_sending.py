"""Responses written straight to the socket: in order with what the transport queued,
the rest through the transport when the socket is full, nothing raised when the peer
is gone, never under TLS. Real TCP connections on loopback, on uvloop (the server's
loop) and on asyncio's own."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import struct
import subprocess
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import uvloop

from tensorgate.server.sending import Sender

Run = Callable[[Coroutine[Any, Any, None]], None]
LOOPS: dict[str, Run] = {"uvloop": uvloop.run, "asyncio": asyncio.run}
BIG = bytes(range(256)) * (128 * 1024)  # 32 MiB: more than a loopback connection buffers


async def _connected(
    body: Callable[[asyncio.StreamWriter, asyncio.StreamReader], Awaitable[None]],
    server_ssl: ssl.SSLContext | None = None,
    client_ssl: ssl.SSLContext | None = None,
) -> None:
    """Run ``body`` with the server side's writer and a client's reader."""
    accepted: asyncio.Future[asyncio.StreamWriter] = asyncio.get_running_loop().create_future()

    async def handle(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set_result(writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ssl)
    port = server.sockets[0].getsockname()[1]
    reader, client = await asyncio.open_connection("127.0.0.1", port, ssl=client_ssl)
    writer = await accepted
    try:
        await body(writer, reader)
    finally:
        client.close()
        writer.close()
        server.close()


@pytest.mark.parametrize("loop", LOOPS)
def test_parts_arrive_in_order_after_what_the_transport_queued(loop: str) -> None:
    async def body(writer: asyncio.StreamWriter, reader: asyncio.StreamReader) -> None:
        sender = Sender(writer.transport)
        assert sender.direct
        sender.send((b"HTTP/1.1 200 OK\r\n\r\n", b"first"))
        writer.transport.write(BIG)  # the client reads nothing yet: most of it queues
        assert writer.transport.get_write_buffer_size() > 0
        sender.send((b"|after the queue",))  # must not overtake it
        sender.send((BIG,))  # the socket is full: all of it through the transport
        want = b"HTTP/1.1 200 OK\r\n\r\nfirst" + BIG + b"|after the queue" + BIG
        assert await reader.readexactly(len(want)) == want

    LOOPS[loop](_connected(body))


@pytest.mark.parametrize("loop", LOOPS)
def test_what_the_socket_does_not_take_goes_through_the_transport(loop: str) -> None:
    async def body(writer: asyncio.StreamWriter, reader: asyncio.StreamReader) -> None:
        sender = Sender(writer.transport)
        sender.send((b"head|", BIG))  # the socket takes part, the transport the rest
        assert writer.transport.get_write_buffer_size() > 0
        sender.send((b"|tail",))
        want = b"head|" + BIG + b"|tail"
        assert await reader.readexactly(len(want)) == want

    LOOPS[loop](_connected(body))


@pytest.mark.parametrize("loop", LOOPS)
def test_a_peer_that_is_gone_raises_nothing(loop: str) -> None:
    async def main() -> None:
        accepted: asyncio.Future[asyncio.StreamWriter] = asyncio.get_running_loop().create_future()

        async def handle(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.set_result(writer)

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        peer = socket.create_connection(server.sockets[0].getsockname())
        writer = await accepted
        # Closed with a zero linger: the kernel resets the connection at once.
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peer.close()
        sender = Sender(writer.transport)
        for _ in range(3):
            sender.send((b"nobody reads this",))  # ECONNRESET / EPIPE: the transport's
            await asyncio.sleep(0)  # one loop turn: the transport learns it is gone
        assert writer.transport.is_closing()
        writer.close()
        server.close()

    LOOPS[loop](main())


def test_under_tls_the_transport_writes(tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ssl.load_cert_chain(cert, key)
    client_ssl = ssl.create_default_context(cafile=str(cert))
    client_ssl.check_hostname = False

    async def body(writer: asyncio.StreamWriter, reader: asyncio.StreamReader) -> None:
        sender = Sender(writer.transport)
        assert not sender.direct  # raw bytes on a TLS socket would break the stream
        sender.send((b"encrypted ", b"by the transport"))
        assert await reader.readexactly(26) == b"encrypted by the transport"

    for run in LOOPS.values():
        run(_connected(body, server_ssl, client_ssl))
