"""S3 failing or slowing down in the middle of a batch job, through a TCP fault proxy
(faulty) in front of the SeaweedFS test server: each fetch is retried, then its item
gets an error row while the others are scored; and a job killed while S3 is slow
resumes cleanly once it is healthy."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest
from faulty.core import FaultyProxy  # type: ignore[import-untyped]
from faulty.middlewares import BaseMiddleware  # type: ignore[import-untyped]

from tensorgate.config import EngineSettings
from tensorgate.jobs import run
from tensorgate.sources import S3Policy
from tests.seaweed import S3Server

ITEMS = 24
#: The killed job's inputs: more than one scoring chunk, so parts commit on the way.
KILLED_ITEMS = 160


class Switch(BaseMiddleware):  # type: ignore[misc]
    """Passes S3's answers through (``ok``), late (``slow``), or cuts the connection
    (``broken``) once ``budget`` answers have passed."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.budget: int | None = None

    async def process(self, chunk: bytes) -> AsyncGenerator[bytes, None]:
        if self.budget is not None:
            if self.budget <= 0:
                raise ConnectionResetError("fault injected")
            self.budget -= chunk.startswith(b"HTTP/1.1 ")
        if self.mode == "slow":
            await asyncio.sleep(0.25)
        yield chunk


@contextmanager
def fault_proxy(endpoint: str) -> Iterator[tuple[str, Switch, object]]:
    target = urlparse(endpoint)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    switch = Switch()
    proxy = FaultyProxy("127.0.0.1", port, target.hostname, target.port)
    proxy.add_ingress_rule(switch)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    serving = asyncio.run_coroutine_threadsafe(proxy.start(), loop)
    deadline = time.monotonic() + 10
    while True:  # until the proxy listens
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "the fault proxy did not start"
            time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", switch, proxy
    finally:
        asyncio.run_coroutine_threadsafe(proxy.stop(), loop).result(10)
        serving.cancel()

        async def settle() -> None:  # let the proxy's connection tasks see the close
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(settle(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


@pytest.fixture(scope="module")
def many(s3: S3Server, cat_jpeg: bytes) -> list[str]:
    client = s3.client()
    for i in range(KILLED_ITEMS):
        client.put_object(Bucket="photos", Key=f"many/{i:03d}.jpg", Body=cat_jpeg)  # type: ignore[attr-defined]
    return [f"s3://photos/many/{i:03d}.jpg" for i in range(KILLED_ITEMS)]


def test_s3_breaking_mid_job_gives_per_item_errors_after_retries(
    s3_env: S3Server, many: list[str], zoo_repository: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "inputs.txt"
    manifest.write_text("\n".join(many[:ITEMS]) + "\n")
    output = tmp_path / "out.jsonl"
    with fault_proxy(s3_env.endpoint) as (endpoint, switch, proxy):
        switch.budget = ITEMS // 2  # half the answers pass, then every connection is cut
        summary = run(
            "efficientnet-lite0",
            str(manifest),
            output,
            settings=EngineSettings(repository=zoo_repository, instances=1),
            s3=S3Policy(endpoint_url=endpoint),
            progress=None,
        )
        connections = proxy.stats.total_connections  # type: ignore[attr-defined]
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert sorted(r["index"] for r in rows) == list(range(ITEMS))  # every item has its row
    failed = [r for r in rows if r["error"]]
    assert 0 < len(failed) < ITEMS
    assert summary.failed == len(failed)
    assert all(r["error"].startswith("SourceError: ") for r in failed), [
        r["error"] for r in failed if not r["error"].startswith("SourceError: ")
    ]
    assert connections >= ITEMS // 2 + 2 * len(failed) - 2  # each failure was retried


def test_a_job_killed_while_s3_is_slow_resumes_cleanly(
    s3_env: S3Server, many: list[str], zoo_repository: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "inputs.txt"
    manifest.write_text("\n".join(many) + "\n")
    output = tmp_path / "out.jsonl"
    parts = tmp_path / "out.jsonl.parts"
    with fault_proxy(s3_env.endpoint) as (endpoint, switch, _):
        command = [
            sys.executable, "-m", "tensorgate", "batch", "-m", "efficientnet-lite0",
            "-i", str(manifest), "-o", str(output), "-r", str(zoo_repository),
            "--s3-endpoint", endpoint, "--commit-every", "4", "--quiet",
        ]  # fmt: skip
        switch.mode = "slow"
        with subprocess.Popen(command, env=os.environ.copy()) as first:
            deadline = time.monotonic() + 120
            try:
                while not list(parts.glob("part-*.jsonl")):  # some results are durable
                    assert first.poll() is None, "the job ended before it was killed"
                    assert time.monotonic() < deadline, "no part was committed in 120 s"
                    time.sleep(0.02)
            finally:
                os.kill(first.pid, signal.SIGKILL)
        assert not output.exists()
        switch.mode = "ok"
        again = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    assert again.returncode == 0, again.stderr
    assert "done by an earlier run" in again.stdout
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert sorted(r["index"] for r in rows) == list(range(KILLED_ITEMS))  # each exactly once
    assert not [r for r in rows if r["error"]]
