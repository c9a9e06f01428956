"""uvicorn's HTTP/1.1 protocol with the limits hostile clients make necessary.

- **Header deadline**: a request's headers must arrive complete within
  ``HEADER_TIMEOUT_S`` of its first byte (or of the connection opening): slowloris
  clients that dribble headers, and connections that never send anything, are closed
  instead of holding a socket forever. (uvicorn's keep-alive timeout covers only the
  quiet after a response.)
- **Header size**: at most ``MAX_HEADER_BYTES`` before the headers end; more is a 431
  and the connection closes (the parser itself sets no limit).

- **Load shedding**: with a ``shedder`` (``server.shedding``), a request the engine
  would refuse at admission anyway is answered 503 once its headers are read, without
  reaching the application.
- **One send per response**: uvicorn writes a response's head and its body with two
  ``transport.write`` calls, and uvloop sends each at once, a syscall apiece with the
  GIL held. A response's writes in one loop step leave together in one ``writev``
  (under load the event loop held the GIL ~0.2 ms a request for them), which lets go
  of the GIL during the system call (server/sending.py).

- **Disconnect callbacks**: each request's scope carries a list under
  ``scope["extensions"]["tensorgate.disconnect"]``; when the connection is lost before
  its answer is complete, every callable in it is called (``server.http.until_disconnect``
  cancels the handler that way, instead of a watcher task per request awaiting
  ``http.disconnect``: a task's creation, first step and cancellation were on the path of
  every answer).

- **The infer lane**: with a ``lane`` (server/lane.py), a V2 infer or raw-image task
  request with nothing special about it is answered from the parser's callbacks,
  without ASGI.

Slow bodies are bounded by the routes' body deadline (``server.http.read_body``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any, cast

import httptools
from starlette.types import Scope
from uvicorn._types import ASGI3Application
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from tensorgate.server.http import DISCONNECT
from tensorgate.server.lane import InferLane, LaneRequest
from tensorgate.server.sending import Sender
from tensorgate.server.shedding import Shedder

__all__ = ["HEADER_TIMEOUT_S", "MAX_HEADER_BYTES", "GuardedHttp"]

log = logging.getLogger("tensorgate.server")

#: Seconds a request's headers may take to arrive.
HEADER_TIMEOUT_S = 10.0
#: Bytes a request's request line and headers may take.
MAX_HEADER_BYTES = 64 * 1024


class _CoalescedWrites:
    """A transport whose writes within one loop step go out as one ``writelines``.

    Anything else that could reorder or drop the bytes (``close``, ``write_eof``,
    ``set_protocol``) sends what is pending first; the rest is the transport's own.
    """

    __slots__ = ("_loop", "_pending", "_sender", "_transport")

    def __init__(
        self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop, sender: Sender
    ) -> None:
        self._transport = transport
        self._loop = loop
        self._sender = sender
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, []
            self._sender.send(pending)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.flush()
        self._transport.set_protocol(protocol)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GuardedHttp(HttpToolsProtocol):
    """HttpToolsProtocol with a header deadline and a header size limit."""

    header_timeout_s = HEADER_TIMEOUT_S
    max_header_bytes = MAX_HEADER_BYTES

    shedder: Shedder | None = None
    lane: InferLane | None = None

    _header_timer: asyncio.TimerHandle | None = None
    _in_headers = True
    #: The next bytes begin a request head (until its blank line): they are counted.
    _scanning = True
    _head_bytes = 0
    _tail = b""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._sender = Sender(transport)
        #: The started requests' cycles and their disconnect callbacks.
        self._started: list[tuple[RequestResponseCycle, list[Callable[[], None]]]] = []
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._headers_done()
        cycle: object = self.cycle
        super().connection_lost(exc)
        if isinstance(cycle, LaneRequest):
            cycle.lost()
        started, self._started = self._started, []
        for cycle, callbacks in started:
            if not cycle.response_complete:
                for callback in list(callbacks):
                    callback()

    def data_received(self, data: bytes) -> None:
        # Measured before the parser sees the bytes: a head that arrives whole in one
        # chunk would otherwise be parsed (and its request started) before any check.
        if self._scanning and not self.transport.is_closing():
            window = self._tail + data
            end = window.find(b"\r\n\r\n")
            if end >= 0:
                self._head_bytes += end + 4 - len(self._tail)
                self._scanning, self._tail = False, b""
            else:
                self._head_bytes += len(data)
                self._tail = window[-3:]
            if self._head_bytes > self.max_header_bytes:
                self._refuse(
                    431,
                    f"request headers are over {self.max_header_bytes} bytes; send fewer "
                    "or shorter headers",
                )
                return
        super().data_received(data)

    def on_body(self, body: bytes) -> None:
        cycle: object = self.cycle
        if isinstance(cycle, LaneRequest):
            cycle.feed(body)
        else:
            super().on_body(body)

    def on_message_complete(self) -> None:
        cycle: object = self.cycle
        if isinstance(cycle, LaneRequest):
            cycle.complete()
        else:
            super().on_message_complete()
        self._scanning, self._head_bytes, self._tail = True, 0, b""  # the next request

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_headers:  # the next request on a kept-alive connection
            self._await_headers()

    def on_headers_complete(self) -> None:
        # The parser is the authority on where a head ends: a chunk may hold the end of
        # one request's body and the next request's whole head, which the parser reads
        # in one go after on_message_complete has re-armed the count.
        self._scanning, self._tail = False, b""
        self._headers_done()
        if self.lane is None or not self._to_lane(self.lane):
            super().on_headers_complete()

    def _to_lane(self, lane: InferLane) -> bool:
        """Start the request on the infer lane if it takes it (server/lane.py)."""
        if (self.cycle is not None and not self.cycle.response_complete) or self.pipeline:
            return False  # answers go out in order: it waits behind the one running
        url = httptools.parse_url(self.url)
        if b"%" in url.path or self.parser.should_upgrade():
            return False
        path = url.path.decode("ascii")
        admitted = lane.admits(self.parser.get_method(), path, url.query or b"", self.headers)
        if admitted is None or lane.sheds(admitted):
            return False
        keep_alive = self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
        request = LaneRequest(
            lane,
            self.transport,
            self._sender,
            self.server_state.default_headers,
            self.on_response_complete,
            self.tasks,
            admitted,
            self.root_path + path,
            keep_alive,
        )
        self.cycle = request  # type: ignore[assignment]  # stands in for the cycle
        return True

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        # Every request (pipelined ones too) starts here, its headers read and its body
        # not: the one place to refuse it before the application sees it.
        if self.shedder is not None:
            refusal = self.shedder(cast("Scope", cycle.scope))
            if refusal is not None:
                app = cast("ASGI3Application", refusal)
        writes = _CoalescedWrites(self.transport, self.loop, self._sender)
        cycle.transport = cast("asyncio.Transport", writes)
        callbacks: list[Callable[[], None]] = []
        extensions: dict[str, Any] = cycle.scope.setdefault("extensions", {})
        extensions[DISCONNECT] = callbacks
        self._started = [(c, f) for c, f in self._started if not c.response_complete]
        self._started.append((cycle, callbacks))
        super()._start_asgi_task(cycle, app)

    # ------------------------------------------------------------------ helpers
    def _await_headers(self) -> None:
        self._in_headers = True
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._too_slow)

    def _headers_done(self) -> None:
        self._in_headers = False
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if self._in_headers and not self.transport.is_closing():
            log.info("closing a connection whose request headers did not arrive in time")
            self._refuse(408, "request headers did not arrive in time")

    def _refuse(self, status: int, message: str) -> None:
        reason = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
        body = json.dumps({"error": message}).encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status, reason, len(body), body)
        )
        self._headers_done()
        self.transport.close()
