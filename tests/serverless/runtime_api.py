"""An emulator of AWS Lambda's Runtime API, for running a function's real runtime client
(``awslambdaric``) on this machine.

AWS's own runtime interface emulator cannot be had here, so this speaks the documented
protocol (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html) over HTTP:

* ``GET  /2018-06-01/runtime/invocation/next``: the next event, blocking until there is
  one, with ``Lambda-Runtime-Aws-Request-Id``, ``-Deadline-Ms``,
  ``-Invoked-Function-Arn`` and ``-Trace-Id`` headers;
* ``POST /2018-06-01/runtime/invocation/{id}/response``: the invocation's result;
* ``POST /2018-06-01/runtime/invocation/{id}/error``: its error (``errorType``,
  ``errorMessage``, ``stackTrace``);
* ``POST /2018-06-01/runtime/init/error``: the function failed during init.

``invoke(event)`` queues an event and waits for the function's answer, as Lambda's
``Invoke`` API does for a synchronous call.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:000000000000:function:tensorgate"


@dataclass
class Outcome:
    """What the function posted for one invocation (or for its init)."""

    kind: str  # "response", "error" or "init-error"
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0  # from queueing the event to the answer


@dataclass
class _Invocation:
    request_id: str
    event: bytes
    deadline_ms: int
    queued: float
    done: threading.Event = field(default_factory=threading.Event)
    outcome: Outcome | None = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A runtime that exits (as after an init error) just drops its connection."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class RuntimeApi:
    """The emulator: ``with RuntimeApi() as api: ... api.address ... api.invoke(event)``."""

    def __init__(self, timeout_s: float = 60.0) -> None:
        self.timeout_s = timeout_s
        self._pending: queue.Queue[_Invocation] = queue.Queue()
        self._by_id: dict[str, _Invocation] = {}
        self._lock = threading.Lock()
        self.init_error: Outcome | None = None
        self.init_failed = threading.Event()
        self.next_calls = 0  # GET /next calls: the first one means init is over
        self.first_next = threading.Event()
        self.first_next_at: float | None = None  # time.perf_counter() of that call
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        """``host:port``, the value of ``AWS_LAMBDA_RUNTIME_API``."""
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def __enter__(self) -> RuntimeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def invoke(self, event: Any, timeout_s: float | None = None) -> Outcome:
        """Queue ``event`` and wait for the function's response or error."""
        timeout = timeout_s or self.timeout_s
        invocation = _Invocation(
            request_id=str(uuid.uuid4()),
            event=json.dumps(event).encode(),
            deadline_ms=int((time.time() + timeout) * 1000),
            queued=time.perf_counter(),
        )
        with self._lock:
            self._by_id[invocation.request_id] = invocation
        self._pending.put(invocation)
        if not invocation.done.wait(timeout):
            raise TimeoutError(f"the function did not answer within {timeout} s")
        assert invocation.outcome is not None
        return invocation.outcome

    def _finish(self, request_id: str, outcome: Outcome) -> bool:
        with self._lock:
            invocation = self._by_id.pop(request_id, None)
        if invocation is None:
            return False
        outcome.seconds = time.perf_counter() - invocation.queued
        invocation.outcome = outcome
        invocation.done.set()
        return True

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # the runtime client keeps its connection
            # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's
            # algorithm and the client's delayed ACK add ~40 ms to each answer.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
                body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def _read(self) -> tuple[Any, dict[str, str]]:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    body = raw.decode(errors="replace")
                return body, {k.lower(): v for k, v in self.headers.items()}

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    self._reply(404, {"errorMessage": f"no route {self.path}"})
                    return
                api.next_calls += 1
                if api.first_next_at is None:
                    api.first_next_at = time.perf_counter()
                api.first_next.set()
                invocation = api._pending.get()  # blocks, as Lambda's does, until an event
                self._reply(
                    200,
                    invocation.event,
                    {
                        "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                        "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                        "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                        "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-x",
                    },
                )

            def do_POST(self) -> None:
                body, headers = self._read()
                parts = self.path.removeprefix(PREFIX).strip("/").split("/")
                if parts == ["init", "error"]:
                    api.init_error = Outcome("init-error", body, headers)
                    api.init_failed.set()
                    self._reply(202, {"status": "OK"})
                    return
                if (
                    len(parts) == 3
                    and parts[0] == "invocation"
                    and parts[2]
                    in (
                        "response",
                        "error",
                    )
                ):
                    if api._finish(parts[1], Outcome(parts[2], body, headers)):
                        self._reply(202, {"status": "OK"})
                    else:
                        self._reply(400, {"errorMessage": f"unknown request id {parts[1]}"})
                    return
                self._reply(404, {"errorMessage": f"no route {self.path}"})

        return Handler
