"""The SSRF-guarded URL fetcher against real servers on loopback.

Blocked addresses are refused before any connection is made, so no traffic leaves the
loopback interface; the servers count what reaches them to prove nothing did.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from tensorgate.errors import BlockedSourceError, SourceError, SourceTooLargeError
from tensorgate.sources.http import UrlPolicy, fetch_url

PHOTO = b"\xff\xd8\xff" + bytes(1000)


@dataclass
class LoopbackServer:
    host: str
    port: int = 0
    paths: list[str] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


async def handle(
    server: LoopbackServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    task = asyncio.current_task()
    assert task is not None
    server.tasks.add(task)
    try:
        await respond(server, reader, writer)
    except (ConnectionError, asyncio.CancelledError):
        pass  # the client hung up (as it should on a slow or oversized body)
    finally:
        writer.close()
        server.tasks.discard(task)


async def respond(
    server: LoopbackServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    request = await reader.readuntil(b"\r\n\r\n")
    path = request.split(b" ")[1].decode()
    server.paths.append(path)

    def send(status: str, headers: dict[str, str], body: bytes = b"") -> None:
        lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
        writer.write("\r\n".join(lines).encode() + body)

    if path == "/photo.jpg":
        send("200 OK", {"Content-Length": str(len(PHOTO)), "Connection": "close"}, PHOTO)
    elif path.startswith("/redirect?to="):
        send("302 Found", {"Location": path.removeprefix("/redirect?to="), "Content-Length": "0"})
    elif path == "/loop":
        send("302 Found", {"Location": "/loop", "Content-Length": "0"})
    elif path == "/declared-big":
        send("200 OK", {"Content-Length": str(30 * 1024 * 1024)})
    elif path == "/chunked-big":
        send("200 OK", {"Transfer-Encoding": "chunked"})
        chunk = bytes(64 * 1024)
        for _ in range(40):
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            await writer.drain()
    elif path == "/slow":
        send("200 OK", {"Content-Length": "1000"})
        for _ in range(1000):  # one byte every 50 ms: far slower than the deadline allows
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.05)
    else:
        send("404 Not Found", {"Content-Length": "0"})
    await writer.drain()


@pytest.fixture
async def servers() -> AsyncIterator[tuple[LoopbackServer, LoopbackServer]]:
    """A trusted server on 127.0.0.1 and an untrusted one on 127.0.0.2."""
    made = []
    handles = []
    for host in ("127.0.0.1", "127.0.0.2"):
        server = LoopbackServer(host)
        handle_one = handle.__get__(server)  # bind the server as first argument
        listener = await asyncio.start_server(handle_one, host, 0)
        server.port = listener.sockets[0].getsockname()[1]
        made.append(server)
        handles.append(listener)
    yield made[0], made[1]
    for listener in handles:
        listener.close()
    for server in made:
        for task in list(server.tasks):
            task.cancel()
        await asyncio.gather(*server.tasks, return_exceptions=True)
    for listener in handles:
        await listener.wait_closed()


TRUSTING = UrlPolicy(
    enabled=True, schemes=("http", "https"), allow_networks=("127.0.0.1/32",), total_timeout_s=1.0
)


async def test_fetches_from_a_trusted_host(servers: tuple[LoopbackServer, LoopbackServer]) -> None:
    trusted, _ = servers
    assert await fetch_url(f"{trusted.url}/photo.jpg", TRUSTING) == PHOTO
    assert trusted.paths == ["/photo.jpg"]


async def test_urls_are_off_by_default_and_https_only() -> None:
    with pytest.raises(BlockedSourceError, match="URL inputs are disabled on this server"):
        await fetch_url("https://example.com/cat.jpg", UrlPolicy())
    with pytest.raises(BlockedSourceError, match="URL scheme 'http' is not allowed; use https"):
        await fetch_url("http://example.com/cat.jpg", UrlPolicy(enabled=True))
    with pytest.raises(BlockedSourceError, match="URL scheme 'file' is not allowed"):
        await fetch_url("file:///etc/passwd", UrlPolicy(enabled=True))


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.2",  # loopback outside the trusted /32
        "localhost",  # a name that resolves to loopback
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",  # private
        "169.254.169.254",  # link-local: cloud metadata
        "100.64.0.1",  # CGNAT
        "0.0.0.0",
        "224.0.0.1",  # multicast
        "[::1]",
        "[::ffff:127.0.0.1]",  # IPv4-mapped IPv6
        "[64:ff9b::a00:1]",  # NAT64 of 10.0.0.1
        "[2002:7f00:1::1]",  # 6to4 of 127.0.0.1
        "[fd00:ec2::254]",  # unique local: metadata on IPv6
    ],
)
async def test_non_public_addresses_are_refused_before_connecting(
    servers: tuple[LoopbackServer, LoopbackServer], host: str
) -> None:
    _, untrusted = servers
    policy = UrlPolicy(enabled=True, schemes=("http",), total_timeout_s=1.0)
    with pytest.raises(BlockedSourceError, match="which is not a public address") as info:
        await fetch_url(f"http://{host}:{untrusted.port}/photo.jpg", policy)
    assert info.value.http_status == 403
    assert untrusted.paths == []


async def test_redirects_are_checked_on_every_hop(
    servers: tuple[LoopbackServer, LoopbackServer],
) -> None:
    trusted, untrusted = servers
    for target in (f"{untrusted.url}/photo.jpg", "http://169.254.169.254/latest/meta-data/"):
        with pytest.raises(BlockedSourceError, match="which is not a public address"):
            await fetch_url(f"{trusted.url}/redirect?to={target}", TRUSTING)
    with pytest.raises(BlockedSourceError, match="URL scheme 'file' is not allowed"):
        await fetch_url(f"{trusted.url}/redirect?to=file:///etc/passwd", TRUSTING)
    assert untrusted.paths == []
    assert await fetch_url(f"{trusted.url}/redirect?to=/photo.jpg", TRUSTING) == PHOTO
    with pytest.raises(BlockedSourceError, match="redirected more than 3 times"):
        await fetch_url(f"{trusted.url}/loop", TRUSTING)
    assert trusted.paths.count("/loop") == 4


@pytest.mark.parametrize("url", ["http://user@127.0.0.1:1/x", "http://127.0.0.1:1@evil.example/x"])
async def test_credentials_in_urls_are_refused(url: str) -> None:
    with pytest.raises(BlockedSourceError, match="carries credentials"):
        await fetch_url(url, TRUSTING)


async def test_oversized_bodies_are_refused(servers: tuple[LoopbackServer, LoopbackServer]) -> None:
    trusted, _ = servers
    policy = UrlPolicy(
        enabled=True, schemes=("http",), allow_networks=("127.0.0.1/32",), max_bytes=1024 * 1024
    )
    with pytest.raises(SourceTooLargeError, match="holds 31,457,280 bytes; the limit is 1,048,576"):
        await fetch_url(f"{trusted.url}/declared-big", policy)
    with pytest.raises(SourceTooLargeError, match="sent more than 1,048,576 bytes"):
        await fetch_url(f"{trusted.url}/chunked-big", policy)


async def test_slow_bodies_hit_the_deadline(servers: tuple[LoopbackServer, LoopbackServer]) -> None:
    trusted, _ = servers
    with pytest.raises(SourceError, match="was not fetched within 1 s"):
        await fetch_url(f"{trusted.url}/slow", TRUSTING)


async def test_errors_name_the_problem(servers: tuple[LoopbackServer, LoopbackServer]) -> None:
    trusted, _ = servers
    with pytest.raises(SourceError, match="answered HTTP 404"):
        await fetch_url(f"{trusted.url}/nothing", TRUSTING)
