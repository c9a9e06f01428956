"""HTTP plumbing shared by the routes: bounded body reads, JSON errors, disconnects."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Awaitable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from tensorgate.errors import (
    InvalidInputError,
    PayloadTooLargeError,
    ProtocolError,
    SlowRequestError,
    TensorgateError,
    UnavailableError,
)
from tensorgate.protocol.numbers import is_decimal
from tensorgate.timing import stage

__all__ = [
    "BODY_TIMEOUT_S",
    "ClientDisconnected",
    "error_response",
    "json_response",
    "path_version",
    "read_body",
    "until_disconnect",
]

T = TypeVar("T")

#: Seconds a request body may take to arrive once its headers have (a client that
#: dribbles it byte by byte gets 408 instead of holding the request open).
BODY_TIMEOUT_S = 30.0


class ClientDisconnected(Exception):
    """The client closed the connection before its answer was ready."""


def json_response(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(doc, separators=(",", ":")).encode()
    return Response(body, status, headers=headers, media_type="application/json")


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
    raw: str | None = request.path_params.get("version")
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
    declared = request.headers.get("content-length")
    if declared is not None and is_decimal(declared) and int(declared) > limit:
        raise PayloadTooLargeError(f"the {what} is {int(declared):,} bytes; the limit is {limit:,}")
    # A writable buffer, so binary tensors can be used in place (np.frombuffer).
    body = bytearray()
    try:
        with stage("read body"):
            async with asyncio.timeout(timeout_s):  # a body dribbled byte by byte
                async for chunk in request.stream():
                    if len(body) + len(chunk) > limit:
                        raise PayloadTooLargeError(f"the {what} is over {limit:,} bytes, the limit")
                    body += chunk
    except TimeoutError:
        raise SlowRequestError(
            f"the {what} did not arrive within {timeout_s:g} s ({len(body):,} bytes "
            "came); send it at once"
        ) from None
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        body = _decompress(body, encoding, limit)
    return body


async def until_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Await ``work``, cancelling it if the client disconnects first (so queued
    requests of clients that went away are dropped before they run).

    One watcher task per request: when it sees ``http.disconnect`` it cancels the
    handler's own task, whose cancellation reaches the batcher's future.
    """
    handler = asyncio.current_task()
    assert handler is not None

    async def watch() -> None:
        while True:
            message = await request.receive()
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
