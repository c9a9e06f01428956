"""Run ``tensorgate serve`` in a subprocess and wait for its 'listening' line.

Used by the tests and benchmarks, and by anyone who wants a real server beside their
own code: ``with spawn_server(repo) as server: httpx.get(server.url + "/v2")``.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

__all__ = ["ServerProcess", "spawn_server"]


@dataclass(frozen=True, slots=True)
class ServerProcess:
    """A running server subprocess and the URL it announced."""

    process: subprocess.Popen[str]
    url: str
    grpc: str | None = None
    #: The last lines the server wrote (stdout and stderr), for diagnostics.
    output: deque[str] = field(default_factory=lambda: deque(maxlen=500))

    @property
    def host_port(self) -> str:
        """``host:port``, the form tritonclient takes."""
        return self.url.removeprefix("http://")


@contextmanager
def spawn_server(
    repository: Path,
    *args: str,
    env: dict[str, str] | None = None,
    start_timeout: float = 120.0,
) -> Iterator[ServerProcess]:
    """Start ``tensorgate serve REPOSITORY --port 0 --grpc-port 0 ARGS`` and yield once it
    listens (ARGS may override both ports); on exit send SIGTERM (the server drains) and
    wait for it."""
    command = [
        sys.executable, "-m", "tensorgate", "serve", str(repository),
        "--port", "0", "--grpc-port", "0", *args,
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    try:
        url, grpc = _wait_for_url(process, start_timeout)
        server = ServerProcess(process, url, grpc)
        # Keep reading both pipes: a server whose log fills an unread pipe (64 KiB)
        # blocks on its next write, event loop and all.
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                threading.Thread(target=_drain, args=(stream, server.output), daemon=True).start()
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _drain(stream: IO[str], tail: deque[str]) -> None:
    try:
        for line in stream:
            tail.append(line)
    except (OSError, ValueError):  # closed while reading: the server has stopped
        pass


def _wait_for_url(process: subprocess.Popen[str], start_timeout: float) -> tuple[str, str | None]:
    assert process.stdout is not None
    deadline = time.monotonic() + start_timeout
    while True:
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([process.stdout], [], [], max(remaining, 0.0))
        if not ready:
            raise RuntimeError(f"tensorgate serve did not start within {start_timeout} s")
        line = process.stdout.readline()
        if not line:
            process.wait()
            stderr = process.stderr.read() if process.stderr else ""
            raise RuntimeError(
                f"tensorgate serve exited with {process.returncode}:\n{stderr[-4000:]}"
            )
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(message, dict) and message.get("event") == "listening":
            grpc = message.get("grpc")
            return str(message["url"]), None if grpc is None else str(grpc)
