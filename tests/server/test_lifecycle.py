"""The server process: SIGTERM drains and exits 0."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from tensorgate.server.process import spawn_server


def test_sigterm_exits_zero(test_repository: Path) -> None:
    with spawn_server(test_repository, "--model", "fake", "--instances", "1") as server:
        assert httpx.get(f"{server.url}/v2/health/ready").status_code == 200
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=60) == 0
