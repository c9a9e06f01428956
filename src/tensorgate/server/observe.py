"""What the HTTP door records of each request: an access-log line and, with tracing on,
its spans.

**Access log**: one JSON line per HTTP request on the ``tensorgate.access`` logger
(stderr, like every log): method, path, model, version, status, bytes in and out, total
ms, and the decode / queue / compute ms with the batch's rows and instance
(``tensorgate.timing``), and whether the infer lane answered it (server/lane.py). Health
probes are left out (orchestrators call them every few seconds). Requests refused at the
door under overload never reach the application: they are counted in
``tensorgate_rejected_requests`` and logged at most once per 10 s.

**Tracing** (``tensorgate.tracing``): a server span per request named by its route
(``POST /v2/models/{name}/classify``), continuing the caller's ``traceparent``, with a
child span per stage.

With the access log off (``--no-access-log``) and tracing off, the middleware is not
installed at all.
"""

from __future__ import annotations

import logging
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tensorgate.timing import RequestTiming
from tensorgate.tracing import traced_request

__all__ = ["Observe", "access_line", "route_of"]

log = logging.getLogger("tensorgate.access")

_MODEL = re.compile(r"^/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?")
_QUIET = frozenset({"/v2/health/live", "/v2/health/ready"})


def route_of(path: str) -> tuple[str, str | None, str | None]:
    """The path with its model name and version as placeholders (a span name of few
    values), the model name and the version."""
    match = _MODEL.match(path)
    if match is None or path == "/v2/models/stats":
        return path, None, None
    version = match["version"]
    route = "/v2/models/{name}" + ("/versions/{version}" if version else "")
    return route + path[match.end() :], match["name"], version


class Observe:
    """ASGI middleware: the access-log line and the request's spans."""

    def __init__(self, app: ASGIApp, *, access_log: bool) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _QUIET:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        sent = 0
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        path = scope["path"]
        route, name, _ = route_of(path)
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        attributes = {"http.request.method": scope["method"], "url.path": path}
        if name is not None:
            attributes["tensorgate.model"] = name
        with traced_request(f"{scope['method']} {route}", carrier, attributes) as (timing, span):
            try:
                await self.app(scope, counting_receive, counting_send)
            finally:
                status = status or 499  # nothing was sent: the client went away
                if span is not None and span.is_recording():
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        from opentelemetry.trace import Status, StatusCode

                        span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
                if self.access_log:
                    access_line(
                        scope["method"], path, status, received, sent, started, timing, lane=False
                    )


def access_line(
    method: str,
    path: str,
    status: int,
    received: int,
    sent: int,
    started: float,
    timing: RequestTiming,
    *,
    lane: bool,
) -> None:
    """Log one request's access line (``started``: its ``time.perf_counter()``;
    ``lane``: answered by the infer lane, server/lane.py)."""
    _, name, version = route_of(path)
    log.info(
        "request",
        extra={
            "method": method,
            "path": path,
            "model": name,
            "version": version,
            "status": status,
            "bytes_in": received,
            "bytes_out": sent,
            "ms": round((time.perf_counter() - started) * 1000, 3),
            "decode_ms": round(timing.decode_s * 1000, 3),
            "queue_ms": round(timing.queue_s * 1000, 3),
            "compute_ms": round(timing.compute_s * 1000, 3),
            "batch": timing.batch_rows,
            "instance": timing.instance,
            "lane": lane,
        },
    )
