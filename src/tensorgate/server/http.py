"""HTTP plumbing shared by the routes: bounded body reads, JSON errors, disconnects."""

from __future__ import annotations

import asyncio
import json
import logging
import zlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope

from tensorgate.errors import (
    InvalidInputError,
    PayloadTooLargeError,
    ProtocolError,
    QueueFullError,
    SlowRequestError,
    TensorgateError,
    UnavailableError,
)
from tensorgate.logs import Throttle
from tensorgate.protocol.numbers import is_decimal
from tensorgate.timing import stage

__all__ = [
    "BODY_TIMEOUT_S",
    "DISCONNECT",
    "ClientDisconnected",
    "error_answer",
    "error_response",
    "json_bytes",
    "json_response",
    "not_allowed",
    "parse_version",
    "path_version",
    "read_body",
    "receive_body",
    "until_disconnect",
]

T = TypeVar("T")

#: The scope extension holding the callables to call if the client goes away before its
#: answer (set by server/protocol.py's HTTP protocol).
DISCONNECT = "tensorgate.disconnect"

log = logging.getLogger("tensorgate.server")
_shedding = Throttle(every=10.0)

#: Seconds a request body may take to arrive once its headers have (a client that
#: dribbles it byte by byte gets 408 instead of holding the request open).
BODY_TIMEOUT_S = 30.0


class ClientDisconnected(Exception):
    """The client closed the connection before its answer was ready."""


def not_allowed(method: str, path: str) -> str:
    """The 405 message."""
    return f"method {method} is not allowed on {path!r}"


def json_bytes(doc: Any) -> bytes:
    """A JSON answer's body, compact."""
    return json.dumps(doc, separators=(",", ":")).encode()


def json_response(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json_bytes(doc), status, headers=headers, media_type="application/json")


def error_answer(exc: Exception, path: str) -> Response:
    """The answer to a request that failed with ``exc``: a TensorgateError's own status
    and message (5xx logged, queue-full refusals logged at most every 10 s), 499 for a
    client that went away, and for anything else a 500 whose details go to the log only
    (the exception's text may name server paths or internals)."""
    if isinstance(exc, TensorgateError):
        if isinstance(exc, QueueFullError):  # load shedding: counted in the metrics
            _shedding(log, logging.WARNING, "refusing requests: queue full", error=exc.message)
        elif exc.http_status >= 500:
            log.warning("request failed", extra={"path": path, "error": exc.message})
        return error_response(exc)
    if isinstance(exc, ClientDisconnected):
        # Nobody is listening; 499 (client closed request) for the logs, as nginx does.
        return Response(status_code=499)
    log.error("unexpected error", exc_info=exc, extra={"path": path})
    return json_response(
        {"error": f"internal error ({type(exc).__name__}); the server log has the details"}, 500
    )


def error_response(exc: TensorgateError) -> Response:
    """``{"error": message}`` with the exception's status (and Retry-After on 503)."""
    headers = None
    if isinstance(exc, UnavailableError):
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))}
    return json_response({"error": exc.message}, exc.http_status, headers)


def _decompress(body: bytearray, encoding: str, limit: int) -> bytearray:
    wbits = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}.get(encoding)
    if wbits is None:
        raise ProtocolError(
            f"Content-Encoding {encoding!r} is not supported; use gzip, deflate or none"
        )
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ProtocolError(f"the {encoding} body cannot be decompressed: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLargeError(
            f"the body decompresses to more than {limit:,} bytes, the limit; send less"
        )
    return bytearray(out)


def path_version(request: Request) -> int | None:
    """The ``{version}`` path parameter as a positive integer, or None when absent."""
    return parse_version(request.path_params.get("version"))


def parse_version(raw: str | None) -> int | None:
    """A path's version segment as a positive integer (None when absent)."""
    if not raw:
        return None
    if not is_decimal(raw) or raw.startswith("0"):
        raise InvalidInputError(f"model version must be a positive integer, got {raw!r}")
    return int(raw)


async def read_body(
    request: Request, limit: int, what: str = "request body", *, timeout_s: float = BODY_TIMEOUT_S
) -> bytearray:
    """The whole body, refused with 413 as soon as it passes ``limit`` bytes (and
    decompressed, with the same bound, if Content-Encoding says gzip or deflate)."""
    headers = request.headers
    return await receive_body(
        request.receive,
        limit,
        what,
        declared=headers.get("content-length"),
        encoding=headers.get("content-encoding"),
        timeout_s=timeout_s,
    )


async def receive_body(
    receive: Receive,
    limit: int,
    what: str = "request body",
    *,
    declared: str | None = None,
    encoding: str | None = None,
    timeout_s: float = BODY_TIMEOUT_S,
) -> bytearray:
    """``read_body`` from the ASGI ``receive`` itself, given the Content-Length and
    Content-Encoding headers' values (a client gone before the end: ClientDisconnected)."""
    if declared is not None and is_decimal(declared) and int(declared) > limit:
        raise PayloadTooLargeError(f"the {what} is {int(declared):,} bytes; the limit is {limit:,}")
    # A writable buffer, so binary tensors can be used in place (np.frombuffer).
    body = bytearray()
    try:
        with stage("read body"):
            async with asyncio.timeout(timeout_s):  # a body dribbled byte by byte
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        raise ClientDisconnected
                    chunk = message.get("body", b"")
                    if len(body) + len(chunk) > limit:
                        raise PayloadTooLargeError(f"the {what} is over {limit:,} bytes, the limit")
                    body += chunk
                    if not message.get("more_body", False):
                        break
    except TimeoutError:
        raise SlowRequestError(
            f"the {what} did not arrive within {timeout_s:g} s ({len(body):,} bytes "
            "came); send it at once"
        ) from None
    encoding = (encoding or "identity").strip().lower()
    if encoding not in ("", "identity"):
        body = _decompress(body, encoding, limit)
    return body


async def until_disconnect(
    request: Request | Receive, work: Awaitable[T], scope: Scope | None = None
) -> T:
    """Await ``work``, cancelling it if the client disconnects first (so queued
    requests of clients that went away are dropped before they run).

    Under tensorgate's own HTTP protocol (server/protocol.py) the connection's loss calls
    back through the scope's ``tensorgate.disconnect`` extension and cancels the
    handler's task directly; under any other ASGI server, one watcher task per request
    awaits ``http.disconnect``. Either way the cancellation reaches the batcher's future.
    """
    handler = asyncio.current_task()
    assert handler is not None
    if isinstance(request, Request):
        receive: Receive = request.receive
        scope = request.scope
    else:
        receive = request
    callbacks = None if scope is None else scope.get("extensions", {}).get(DISCONNECT)
    if callbacks is not None:
        return await _until_called_back(callbacks, handler, work)

    async def watch() -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                handler.cancel()
                return

    watcher = asyncio.ensure_future(watch())
    try:
        return await work
    except asyncio.CancelledError:
        if watcher.done() and not watcher.cancelled():
            handler.uncancel()
            raise ClientDisconnected from None
        raise
    finally:
        watcher.cancel()


async def _until_called_back(
    callbacks: list[Callable[[], None]], handler: asyncio.Task[Any], work: Awaitable[T]
) -> T:
    gone = False

    def on_disconnect() -> None:
        nonlocal gone
        gone = True
        handler.cancel()

    callbacks.append(on_disconnect)
    try:
        return await work
    except asyncio.CancelledError:
        if gone:
            handler.uncancel()
            raise ClientDisconnected from None
        raise
    finally:
        callbacks.remove(on_disconnect)
