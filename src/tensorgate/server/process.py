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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ServerProcess", "spawn_server"]


@dataclass(frozen=True, slots=True)
class ServerProcess:
    """A running server subprocess and the URL it announced."""

    process: subprocess.Popen[str]
    url: str
    grpc: str | None = None

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
        yield ServerProcess(process, url, grpc)
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
