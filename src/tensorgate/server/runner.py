"""Serve the app with uvicorn on a socket we bind ourselves (so port 0 works and the
real address can be announced), announcing readiness as one JSON line on stdout."""

from __future__ import annotations

import json
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

import uvicorn

from tensorgate.config import EngineSettings, ServerSettings
from tensorgate.engine import Engine, preflight
from tensorgate.logs import configure_logging
from tensorgate.server.app import create_app

__all__ = ["announce", "bind_socket", "serve"]


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv6 when ``host`` is an IPv6 address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def announce(url: str) -> None:
    """Print the line tests and scripts wait for: ``{"event": "listening", "url": ...}``."""
    sys.stdout.write(json.dumps({"event": "listening", "url": url}) + "\n")
    sys.stdout.flush()


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, url: str, on_ready: Callable[[str], None]) -> None:
        super().__init__(config)
        self._url = url
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            self._on_ready(self._url)


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
    on_ready: Callable[[str], None] = announce,
) -> None:
    """Load the repository and serve it until SIGINT/SIGTERM (then drain and exit)."""
    preflight(engine_settings)  # a missing repository or model fails here, not mid-startup
    configure_logging(log_level)
    engine = Engine(engine_settings)
    app = create_app(engine, server_settings)
    sock = bind_socket(server_settings.host, server_settings.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    options: dict[str, Any] = {
        "loop": _loop(),
        "http": "httptools",
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
    _Server(config, f"http://{shown}:{port}", on_ready).run(sockets=[sock])
