"""``serve --workers N``: the plan (cores, memory, ports) and real worker processes behind
one port: both serve, one killed is started again, SIGTERM drains them all."""

from __future__ import annotations

import http.client
import json
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tensorgate.config import EngineSettings, ServerSettings
from tensorgate.errors import ConfigError
from tensorgate.server.process import ServerProcess, spawn_server
from tensorgate.server.workers import plan_workers, split_cores
from tests.helpers import sigterm_while_loading, slow_fake_model


def test_cores_are_split_into_contiguous_shares() -> None:
    assert split_cores(range(8), 2) == [(0, 1, 2, 3), (4, 5, 6, 7)]
    assert split_cores([3, 1, 2, 0, 4], 2) == [(0, 1, 2), (3, 4)]
    assert split_cores([0, 1], 2) == [(0,), (1,)]
    assert split_cores([0, 1], 3) == [(0,), (1,), (0,)]  # more workers than cores


def test_each_worker_gets_its_share_of_the_budget_and_the_reserved_ports() -> None:
    engine = EngineSettings(repository=Path("/r"), memory_budget={"cpu": 1000, "cuda:0": 7})
    plans = plan_workers(
        2, engine, ServerSettings(port=0, grpc_port=0), range(4), http_port=8123, grpc_port=8124
    )
    assert [p.index for p in plans] == [0, 1]
    assert [p.cores for p in plans] == [(0, 1), (2, 3)]
    for plan in plans:
        assert plan.engine.memory_budget == {"cpu": 500, "cuda:0": 3}
        assert (plan.server.port, plan.server.grpc_port, plan.server.reuse_port) == (
            8123,
            8124,
            True,
        )


def test_model_control_with_workers_is_refused() -> None:
    engine = EngineSettings(repository=Path("/r"))
    server = ServerSettings(model_control=True, control_token="t")
    with pytest.raises(ConfigError, match="--model-control with --workers 2"):
        plan_workers(2, engine, server, range(2), http_port=1, grpc_port=None)
    with pytest.raises(ConfigError, match="at least 1"):
        plan_workers(0, engine, ServerSettings(), range(2), http_port=1, grpc_port=None)


def _logged(server: ServerProcess, message: str) -> list[dict[str, object]]:
    docs = map(_json_or_none, list(server.output))
    return [doc for doc in docs if doc is not None and doc.get("msg") == message]


def _until_logged(server: ServerProcess, message: str, count: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 60
    while len(found := _logged(server, message)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{message!r} was not logged {count} times")
        time.sleep(0.05)
    return found


def _classify(server: ServerProcess, jpeg: bytes) -> str:
    """One request on a new connection (the kernel picks the worker per connection)."""
    host, port = server.host_port.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("POST", "/v2/models/efficientnet-lite0/classify", body=jpeg)
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200, body
        label: str = json.loads(body)["results"][0]["predictions"][0]["label"]
        return label
    finally:
        connection.close()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_workers_share_the_port_restart_and_drain(test_repository: Path, cat_jpeg: bytes) -> None:
    with spawn_server(test_repository, "--workers", "2", "--model", "efficientnet-lite0") as server:
        started = _until_logged(server, "worker started", 2)
        assert sorted(str(doc["worker"]) for doc in started) == ["0", "1"]
        labels = {_classify(server, cat_jpeg) for _ in range(24)}
        assert len(labels) == 1
        served = {doc["worker"] for doc in _until_logged(server, "request", 24)}
        assert served == {0, 1}, "the kernel sent every connection to one worker"

        victim = int(str(started[0]["pid"]))
        os.kill(victim, signal.SIGKILL)
        _until_logged(server, "worker started", 3)  # the supervisor starts it again
        _until_logged(server, "Application startup complete.", 3)
        assert {_classify(server, cat_jpeg) for _ in range(8)} == labels

        # Every worker's /metrics has the totals of all of them (the killed one's too).
        line = 'tensorgate_requests_total{model="efficientnet-lite0",outcome="success"} 32.0'
        for _ in range(6):  # new connections: the kernel picks the worker each time
            assert line in httpx.get(f"{server.url}/metrics").text.splitlines()

        pids = [int(str(doc["pid"])) for doc in _logged(server, "worker started")]
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=60) == 0
        assert all(_gone(pid) for pid in pids if pid != victim)


def test_sigterm_while_workers_load_exits_cleanly(tmp_path: Path) -> None:
    slow_fake_model(tmp_path, "slow", 2.0)
    code, output, _ = sigterm_while_loading(tmp_path, "--workers", "2")
    assert code == 0, output
    assert '"event": "listening"' not in output
    exits = [
        doc
        for doc in map(_json_or_none, output.splitlines())
        if doc and doc.get("msg") == "worker exited"
    ]
    assert sorted(str(doc["worker"]) for doc in exits) == ["0", "1"], output
    # Stopped as asked: drained, or ended by the forwarded SIGTERM before it could drain.
    assert {doc["exitcode"] for doc in exits} <= {0, -signal.SIGTERM}, output


def _json_or_none(line: str) -> dict[str, object] | None:
    try:
        doc = json.loads(line)
    except json.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None
