"""One HTTP request through the server's ASGI app, in-process: no socket, no HTTP server.

The function answers HTTP events with the very routes, limits and error bodies the
server has, so an answer from Lambda is byte for byte the server's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message

from tensorgate.serverless.events import HttpRequest

__all__ = ["AsgiAnswer", "call_asgi"]


@dataclass(slots=True)
class AsgiAnswer:
    status: int = 500
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)


async def call_asgi(app: ASGIApp, request: HttpRequest) -> AsgiAnswer:
    """Run ``request`` through ``app`` and gather its answer."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": "https",
        "path": request.path,
        "raw_path": request.path.encode("latin-1", "replace"),
        "query_string": request.query,
        "root_path": "",
        "headers": [(b"host", b"lambda"), *request.headers],
        "client": (request.source_ip, 0),
        "server": ("lambda", 443),
        "state": {},
    }
    answer = AsgiAnswer()
    finished = asyncio.Event()
    body_sent = False

    async def receive() -> Message:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": request.body, "more_body": False}
        await finished.wait()  # the client "disconnects" only once the answer is out
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer.status = int(message["status"])
            answer.headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")
            if not message.get("more_body", False):
                finished.set()

    try:
        await app(scope, receive, send)
    finally:
        finished.set()
    return answer
