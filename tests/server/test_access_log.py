"""One access-log line per request, with where its time went; none when turned off."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tensorgate.server.process import ServerProcess, spawn_server
from tests.helpers import build_test_repository


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory, lite0_dir: Path) -> Path:
    return build_test_repository(tmp_path_factory.mktemp("repository"), lite0_dir)


@pytest.fixture(scope="module")
def server(repository: Path) -> Iterator[ServerProcess]:
    with spawn_server(repository, "--instances", "1") as running:
        yield running


def access_lines(server: ServerProcess) -> list[dict[str, Any]]:
    lines = []
    for line in list(server.output):
        if '"tensorgate.access"' in line:
            lines.append(json.loads(line))
    return lines


def wait_for_lines(server: ServerProcess, count: int) -> list[dict[str, Any]]:
    # The server writes the line before the response's last byte leaves; its pipe is
    # read by a thread: a probe request after ours flushes the order.
    for _ in range(200):
        lines = access_lines(server)
        if len(lines) >= count:
            return lines
        httpx.get(f"{server.url}/v2/health/live")  # not logged itself
    return access_lines(server)


def test_each_request_gets_a_line_with_its_stages(server: ServerProcess, cat_jpeg: bytes) -> None:
    seen = len(access_lines(server))
    url = f"{server.url}/v2/models/efficientnet-lite0/versions/1/classify"
    assert httpx.post(url, content=cat_jpeg, timeout=30).status_code == 200
    assert httpx.post(url, content=b"not an image", timeout=30).status_code == 400
    assert httpx.get(f"{server.url}/v2/models/nope", timeout=30).status_code == 404
    ok, bad, missing = wait_for_lines(server, seen + 3)[seen : seen + 3]
    assert ok["msg"] == "request"
    assert ok["model"] == "efficientnet-lite0"
    assert ok["version"] == "1"
    assert ok["status"] == 200
    assert ok["bytes_in"] == len(cat_jpeg)
    assert ok["bytes_out"] > 50
    for stage in ("decode_ms", "queue_ms", "compute_ms"):
        assert isinstance(ok[stage], float), stage
    assert ok["decode_ms"] > 0
    assert ok["compute_ms"] > 0
    assert ok["batch"] == 1
    assert ok["instance"] == 0
    assert ok["ms"] >= ok["compute_ms"]
    assert bad["status"] == 400
    assert bad["compute_ms"] == 0
    assert missing["status"] == 404
    assert missing["model"] == "nope"


def test_turned_off_there_is_no_line(repository: Path, cat_jpeg: bytes) -> None:
    with spawn_server(repository, "--instances", "1", "--no-access-log") as quiet:
        url = f"{quiet.url}/v2/models/efficientnet-lite0/classify"
        assert httpx.post(url, content=cat_jpeg, timeout=30).status_code == 200
        for _ in range(20):
            httpx.get(f"{quiet.url}/v2/health/live")
        assert access_lines(quiet) == []
