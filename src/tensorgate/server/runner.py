"""Serve the app with uvicorn on a socket we bind ourselves (so port 0 works and the
real address can be announced), announcing readiness as one JSON line on stdout."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn

from tensorgate.config import EngineSettings, ServerSettings
from tensorgate.engine import Engine, EngineState, preflight
from tensorgate.logs import configure_logging
from tensorgate.server.app import create_app
from tensorgate.server.heap import settle_heap
from tensorgate.server.lane import InferLane
from tensorgate.server.protocol import GuardedHttp
from tensorgate.server.shedding import shedder
from tensorgate.tracing import configure_tracing

__all__ = ["announce", "bind_socket", "serve"]

#: After a drain: how long without a new request counts as quiet, and the longest wait.
QUIET_S = 0.2
LINGER_MAX_S = 2.0

log = logging.getLogger("tensorgate.server")


def bind_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A TCP socket bound to ``host:port`` (IPv6 when ``host`` is an IPv6 address), not
    listening yet. With ``reuse_port``, other processes may bind the same port with
    ``SO_REUSEPORT`` too; the kernel spreads new connections over those that listen."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def announce(url: str, grpc: str | None = None) -> None:
    """Print the line tests and scripts wait for:
    ``{"event": "listening", "url": "http://…", "grpc": "host:port" or null}``."""
    sys.stdout.write(json.dumps({"event": "listening", "url": url, "grpc": grpc}) + "\n")
    sys.stdout.flush()


class _Server(uvicorn.Server):
    """uvicorn with our shutdown sequence and the gRPC door on the same loop.

    On SIGTERM / SIGINT: readiness turns 503 at once while requests are still served for
    ``shutdown_delay_s`` (load balancers notice and stop sending); then the engine refuses
    new requests (503) and waits for the accepted ones, up to ``drain_timeout_s``; then
    gRPC stops, uvicorn closes the listener and the lifespan frees the models. A second
    SIGINT forces the exit.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        engine: Engine,
        settings: ServerSettings,
        url: str,
        on_ready: Callable[[str, str | None], None],
    ) -> None:
        super().__init__(config)
        self._engine = engine
        self._settings = settings
        self._url = url
        self._on_ready = on_ready
        self._grpc: Any = None
        #: Set once the gRPC server's start() has returned: grpc.aio crashes the process
        #: (SIGSEGV) when stop() runs while start() is still under way.
        self._grpc_started = asyncio.Event()
        self._draining: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)
        if self.should_exit or self._draining is not None:  # a signal came while loading
            return
        grpc_url = None
        if self._settings.grpc_port is not None:
            from tensorgate.grpc.service import create_grpc_server

            self._grpc, port = create_grpc_server(self._engine, self._settings)
            try:
                await self._grpc.start()
            finally:
                self._grpc_started.set()
            host = self._settings.host
            grpc_url = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        settle_heap()  # the models are loaded: what start-up built lives as long as we do
        self._on_ready(self._url, grpc_url)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining is not None or self._loop is None or self.should_exit:
            super().handle_exit(sig, frame)  # a second signal: uvicorn's own (force) exit
            return
        self._captured_signals.append(sig)
        if self._engine.state in (EngineState.NEW, EngineState.STARTING):  # still loading
            self._engine.abort_start()
        self._engine.begin_drain()
        self._draining = self._loop.create_task(self._drain())

    async def _drain(self) -> None:
        if self._settings.shutdown_delay_s:
            await asyncio.sleep(self._settings.shutdown_delay_s)
        drained = await self._engine.drain()
        if not drained:
            log.warning("drain timed out; requests still running are cancelled")
        await self._stop_grpc()
        await self._until_quiet()
        self.should_exit = True

    async def _until_quiet(self) -> None:
        """Keep the listener open until no request has arrived for ``QUIET_S`` (at most
        ``LINGER_MAX_S``). Every answer since the drain began said ``Connection: close``;
        a client that reads the last of them and comes straight back is then told 503 on
        a new connection, where closing the listener at once would reset a connection the
        kernel had already accepted for it."""
        state = self.server_state
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LINGER_MAX_S
        seen = -1
        while loop.time() < deadline and (state.total_requests != seen or state.tasks):
            seen = state.total_requests
            await asyncio.sleep(QUIET_S)

    async def _stop_grpc(self) -> None:
        if self._grpc is not None:
            await self._grpc_started.wait()  # a signal may come while it is starting
            await self._grpc.stop(grace=1.0)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Also after a drain: a signal during start-up drains before the gRPC door opens.
        await self._stop_grpc()
        await super().shutdown(sockets)


def _loop() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def serve(
    engine_settings: EngineSettings,
    server_settings: ServerSettings,
    *,
    log_level: str = "info",
    on_ready: Callable[[str, str | None], None] = announce,
    log_fields: dict[str, Any] | None = None,
) -> None:
    """Load the repository and serve it over HTTP (and gRPC) until SIGINT/SIGTERM, then
    drain and exit. ``log_fields`` ride on every log line (a worker's index)."""
    preflight(engine_settings)  # a missing repository or model fails here, not mid-startup
    configure_logging(log_level, **(log_fields or {}))
    if server_settings.tracing:
        configure_tracing()
    engine = Engine(engine_settings)
    app = create_app(engine, server_settings)
    sock = bind_socket(
        server_settings.host, server_settings.port, reuse_port=server_settings.reuse_port
    )
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    options: dict[str, Any] = {
        "loop": _loop(),
        "http": type(
            "GuardedHttp",
            (GuardedHttp,),
            {
                "header_timeout_s": server_settings.header_timeout_s,
                "shedder": staticmethod(shedder(engine, server_settings.access)),
                # Spans need the ASGI path's middleware: no lane while tracing.
                "lane": InferLane(engine, server_settings)
                if server_settings.infer_lane and not server_settings.tracing
                else None,
            },
        ),
        "lifespan": "on",
        "access_log": False,
        "log_config": None,
        "timeout_graceful_shutdown": engine_settings.drain_timeout_s,
    }
    config = uvicorn.Config(app, **options)
    # uvicorn drains on SIGINT/SIGTERM, then re-raises the signal with the handler that
    # was in place before it started; with the default one the process would die by the
    # signal. A no-op handler lets a drained server exit 0, as orchestrators expect.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda signum, frame: None)
    _Server(config, engine, server_settings, f"http://{shown}:{port}", on_ready).run(sockets=[sock])
