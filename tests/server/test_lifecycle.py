"""The server process under SIGTERM: readiness off at once, accepted requests drained,
exit 0 — on a real subprocess under load."""

from __future__ import annotations

import re
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tensorgate.server.process import ServerProcess, spawn_server
from tests.test_registry import add_version, fake_config

FEED = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 1, 1]}]}


@pytest.fixture
def slow_repo(tmp_path: Path) -> Path:
    # One instance, batches of 4 taking 0.25 s: 12 requests in flight take ~0.75 s.
    add_version(
        tmp_path,
        "slow",
        1,
        delay_s=0.25,
        config=fake_config(max_batch_size=4, dynamic_batching={"max_queue_size": 64}),
    )
    return tmp_path


@dataclass
class Outcome:
    sent: float
    done: float
    status: int | None  # None: no HTTP answer
    error: str = ""


def queued(server: ServerProcess) -> float:
    text = httpx.get(server.url + "/metrics", timeout=10).text
    match = re.search(r'^tensorgate_queue_depth\{model="slow"\} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


def hammer(server: ServerProcess, outcomes: list[Outcome], lock: threading.Lock) -> None:
    """Send requests back to back until one is not answered 200 (as a client whose
    load balancer moved on would)."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        while True:
            sent = time.monotonic()
            try:
                response = client.post("/v2/models/slow/infer", json=FEED)
                status: int | None = response.status_code
                error = "" if status == 200 else response.json()["error"]
            except httpx.ConnectError as exc:  # refused before anything was accepted
                status, error = None, f"connect: {exc}"
            except httpx.HTTPError as exc:
                status, error = None, f"lost: {type(exc).__name__}: {exc}"
            with lock:
                outcomes.append(Outcome(sent, time.monotonic(), status, error))
            if status != 200:
                return


def test_sigterm_under_load_drains_every_accepted_request(slow_repo: Path) -> None:
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    with spawn_server(slow_repo) as server:
        threads = [
            threading.Thread(target=hammer, args=(server, outcomes, lock)) for _ in range(12)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        backlog = 0.0
        while backlog < 4:  # wait for a real backlog, not for a fixed time
            assert time.monotonic() < deadline, "no backlog built up"
            backlog = queued(server)
        server.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        while httpx.get(server.url + "/v2/health/ready", timeout=10).status_code != 503:
            assert time.monotonic() < signalled + 5, "readiness never turned 503"
        not_ready = time.monotonic()
        for thread in threads:
            thread.join(timeout=60)
        assert server.process.wait(timeout=60) == 0
    # Every request got an answer: served, or refused cleanly (503 / connection refused).
    lost = [o for o in outcomes if o.status not in (200, 503) and not o.error.startswith("connect")]
    assert lost == []
    refused = [o.error for o in outcomes if o.status == 503]
    assert all("takes no new requests" in e for e in refused), refused
    # The backlog queued at SIGTERM was drained: at least that many answered 200 after it,
    # and some of them after readiness had already turned 503.
    drained = [o for o in outcomes if o.status == 200 and o.done > signalled]
    assert len(drained) >= backlog
    assert any(o.done > not_ready for o in drained)


def test_shutdown_delay_keeps_serving_with_readiness_off(slow_repo: Path) -> None:
    with spawn_server(slow_repo, "--shutdown-delay", "2") as server:
        server.process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        while httpx.get(server.url + "/v2/health/ready", timeout=10).status_code != 503:
            assert time.monotonic() < started + 5, "readiness never turned 503"
        response = httpx.post(server.url + "/v2/models/slow/infer", json=FEED, timeout=30)
        assert response.status_code == 200  # still served: balancers need time to notice
        assert response.headers["connection"] == "close"
        assert server.process.wait(timeout=60) == 0
