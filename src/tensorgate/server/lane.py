"""The infer lane: ``POST /v2/models/{name}[/versions/{version}]/infer`` and the image
tasks' routes (``/classify``, ``/detect``, ``/embed``, …, with a raw image body) taken
straight from the HTTP parser's callbacks, without ASGI.

Measured on the 2-vCPU VM at concurrency 1 (``bench.overhead``), a bare uvloop server
answering a V2 binary request with one thread hop sits 0.85–1.2 ms above raw onnxruntime;
uvicorn's request cycle with a plain ASGI app adds ~0.2 ms to that, and every further
layer more (the scope and its messages, the middlewares, Starlette's Response). For the
routes that carry tensors and images, the connection's protocol (server/protocol.py)
hands the request here once its headers are read: the body is gathered from the parser's
callbacks into one buffer, a task runs the engine, and the answer is written to the
transport as one buffer.

They are the same routes with the same answers as server/infer.py and server/images.py
(which still serve any request the lane does not take): the same body limits (413) and
body deadline (408), the same errors (``error_answer``), the same access-log line,
``Connection: close`` once the engine drains, a request cancelled when its client hangs
up, and pipelined requests answered in order (the lane stands in for uvicorn's request
cycle on its connection, so the next request waits behind it as it would behind any
other).

The lane takes a request only when nothing is special about it: POST on one of those
paths with no percent-escapes, a Content-Length, no Content-Encoding, no
``Expect: 100-continue``, not a multipart form, no request of the connection still
being answered, tracing off, the access policy satisfied, and the model's queue not
full. Anything else — wrong or missing tokens included — takes the ASGI path, where it
gets the route's full treatment.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import NamedTuple
from urllib.parse import parse_qsl

from tensorgate.access import AccessPolicy
from tensorgate.config import ServerSettings
from tensorgate.engine import Engine
from tensorgate.errors import PayloadTooLargeError, SlowRequestError, TensorgateError
from tensorgate.protocol.numbers import is_decimal
from tensorgate.server.http import (
    BODY_TIMEOUT_S,
    ClientDisconnected,
    error_answer,
    json_bytes,
    parse_version,
)
from tensorgate.server.images import task_document, top_k
from tensorgate.server.infer import INFER_PATH, InferAnswer, infer_answer, infer_body_limit
from tensorgate.server.observe import access_line
from tensorgate.server.sending import Sender
from tensorgate.server.shedding import engine_refusal
from tensorgate.tasks import TASKS
from tensorgate.timing import RequestTiming, timed

__all__ = ["Admitted", "InferLane", "LaneRequest"]


#: The image tasks' routes (``/classify``, ``/detect``, …) and their tasks.
_TASK_OF_ROUTE = {task.route: task.name for task in TASKS.values()}
_TASK_PATH = re.compile(
    r"/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?/(?P<route>"
    + "|".join(re.escape(route) for route in sorted(_TASK_OF_ROUTE))
    + ")"
)


class _Signal:
    """What uvicorn's ``connection_lost`` sets on a request cycle; the lane is told
    through ``LaneRequest.lost`` instead."""

    def set(self) -> None:
        pass


class Admitted(NamedTuple):
    """A request the lane takes: its model, version segment, image task (None: V2
    infer), the headers it reads and its query string."""

    name: str
    version: str | None
    task: str | None
    headers: dict[bytes, str]
    query: bytes = b""


class InferLane:
    """One server's lane: its engine, limits, access policy and access log."""

    def __init__(self, engine: Engine, settings: ServerSettings) -> None:
        self.engine = engine
        self.settings = settings
        self.access: AccessPolicy = settings.access
        self.access_log = settings.access_log

    def admits(
        self, method: bytes, path: str, query: bytes, headers: list[tuple[bytes, bytes]]
    ) -> Admitted | None:
        """What the lane needs of this request when it takes it; None sends it down the
        ASGI path."""
        if method != b"POST":
            return None
        task = None
        match = INFER_PATH.fullmatch(path)
        if match is None:
            match = _TASK_PATH.fullmatch(path)
            if match is None:
                return None
            task = _TASK_OF_ROUTE[match["route"]]
        wanted: dict[bytes, str] = {}
        for key, value in headers:
            if key in _READ:
                wanted[key] = value.decode("latin-1")
            elif key in _REFUSED:
                return None
        if not is_decimal(wanted.get(b"content-length", "")):
            return None  # chunked or no length: the ASGI path reads it
        if task is not None and wanted.get(b"content-type", "").startswith("multipart/"):
            return None  # files in a form: the route's multipart parser
        if self.access.auth_token is not None:
            try:
                self.access.check(wanted.get(b"authorization"), control=False)
            except TensorgateError:
                return None  # the ASGI path answers 401 / 403 with its challenge
        return Admitted(match["name"], match["version"], task, wanted, query)

    def sheds(self, admitted: Admitted) -> bool:
        """Whether the engine would refuse this request at admission now (overload): the
        ASGI path's shedder then answers it, as it answers every refusal."""
        return engine_refusal(self.engine, admitted.name, admitted.version) is not None


#: The headers the lane reads; a request with any of ``_REFUSED`` takes the ASGI path.
_READ = frozenset(
    {b"content-length", b"content-type", b"inference-header-content-length", b"authorization"}
)
_REFUSED = frozenset({b"content-encoding", b"expect", b"transfer-encoding", b"upgrade"})


class LaneRequest:
    """One request on the lane, standing in for uvicorn's ``RequestResponseCycle``
    on its connection (the attributes uvicorn's protocol reads are here)."""

    def __init__(
        self,
        lane: InferLane,
        transport: asyncio.Transport,
        sender: Sender,
        default_headers: list[tuple[bytes, bytes]],
        on_response: Callable[[], None],
        tasks: set[asyncio.Task[None]],
        admitted: Admitted,
        path: str,
        keep_alive: bool,
    ) -> None:
        self.lane = lane
        self.transport = transport
        self.sender = sender
        self.default_headers = default_headers
        self.on_response = on_response
        self.tasks = tasks
        self.name, raw_version, self.task, self.headers, query = admitted
        self.path = path
        self.started = time.perf_counter()
        # What uvicorn's protocol reads and sets on its current cycle:
        self.response_complete = False
        self.disconnected = False
        self.keep_alive = keep_alive
        self.message_event = _Signal()
        self.body = bytearray()
        self._task: asyncio.Task[None] | None = None
        self._timing = RequestTiming(stages=None)
        self._deadline: asyncio.TimerHandle | None = None
        self.version: int | None = None
        self.top: int | None = None
        settings = lane.settings
        if self.task is not None:
            self.what, limit = "image body", settings.max_image_bytes
        else:
            header = self.headers.get(b"inference-header-content-length")
            self.what, limit = "infer request body", infer_body_limit(settings, header)
        declared = int(self.headers[b"content-length"])
        try:  # in the order the routes check them: the path, the query, the length
            self.version = parse_version(raw_version)
            if self.task == "classify":
                self.top = top_k(_last(query, "top_k"))
            if declared > limit:
                raise PayloadTooLargeError(
                    f"the {self.what} is {declared:,} bytes; the limit is {limit:,}"
                )
        except TensorgateError as exc:
            self._fail(exc)
            return
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(BODY_TIMEOUT_S, self._too_slow)

    # ------------------------------------------------------------ from the parser
    def feed(self, chunk: bytes) -> None:
        # Within the limit: the parser ends the body at its Content-Length, checked above.
        if not self.response_complete:
            self.body += chunk

    def complete(self) -> None:
        """The whole body is in: run it."""
        if self.response_complete:
            return
        self._cancel_deadline()
        task = asyncio.get_running_loop().create_task(self._run())
        self._task = task
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def lost(self) -> None:
        """The connection is gone before the answer: drop the request."""
        self._cancel_deadline()
        if not self.response_complete:
            self.disconnected = True
            if self._task is not None:
                self._task.cancel()
            else:
                self._logged(499, 0)

    # ------------------------------------------------------------------ answers
    async def _run(self) -> None:
        # The stage timings only feed the access log: gathered when it is on.
        timing = timed() if self.lane.access_log else contextlib.nullcontext(self._timing)
        try:
            with timing as self._timing:
                answer = await self._answered()
        except asyncio.CancelledError:
            if self.disconnected:  # the client hung up: nobody to answer
                self._logged(499, 0)
                return
            raise
        except Exception as exc:  # every failure is an answer, as on the ASGI path
            self._fail(exc)
            return
        self._write(200, answer.headers(), answer.payload)

    async def _answered(self) -> InferAnswer:
        engine = self.lane.engine
        if self.task is None:
            header = self.headers.get(b"inference-header-content-length")
            return await infer_answer(engine, self.name, self.version, header, self.body)
        images: list[tuple[str | None, bytes]] = [(None, bytes(self.body))]
        doc = await task_document(engine, self.name, self.version, self.task, self.top, images)
        return InferAnswer(json_bytes(doc), None)

    def _fail(self, exc: Exception) -> None:
        if isinstance(exc, ClientDisconnected):
            self._logged(499, 0)
            return
        response = error_answer(exc, self.path)
        headers = [(k, v) for k, v in response.raw_headers if k != b"content-length"]
        if not self.body_done:
            self.keep_alive = False  # the rest of the body would be read as a request
        self._write(response.status_code, headers, bytes(response.body))

    @property
    def body_done(self) -> bool:
        return self._deadline is None and self._task is not None

    def _too_slow(self) -> None:
        self._deadline = None
        self._fail(
            SlowRequestError(
                f"the {self.what} did not arrive within {BODY_TIMEOUT_S:g} s "
                f"({len(self.body):,} bytes came); send it at once"
            )
        )

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _write(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        if self.response_complete or self.transport.is_closing():
            return
        self._cancel_deadline()
        if self.lane.engine.draining:
            self.keep_alive = False
        head = [b"HTTP/1.1 %d %s\r\n" % (status, _reason(status))]
        for key, value in (*self.default_headers, *headers):
            head.append(b"%s: %s\r\n" % (key, value))
        head.append(b"content-length: %d\r\n" % len(body))
        if not self.keep_alive:
            head.append(b"connection: close\r\n")
        head.append(b"\r\n")
        self.sender.send((b"".join(head), body))  # one writev, the GIL let go (sending.py)
        self.response_complete = True
        self._logged(status, len(body))
        self.body = bytearray()  # an idle kept-alive connection holds no request body
        self.on_response()
        if not self.keep_alive:
            self.transport.close()

    def _logged(self, status: int, sent: int) -> None:
        if self.lane.access_log:
            access_line(
                "POST",
                self.path,
                status,
                len(self.body),
                sent,
                self.started,
                self._timing,
                lane=True,
            )


def _last(query: bytes, name: str) -> str | None:
    """A query parameter's last value, as Starlette's ``query_params.get`` reads it."""
    found = None
    for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if key == name:
            found = value
    return found


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:  # 499: nginx's, not in the standard's list
        return b"Client Closed Request"
