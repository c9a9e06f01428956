"""The CPU image, built and run with podman on this machine (slow: a few minutes the first
time, when scripts/container.sh makes the Debian base image and the wheelhouse).

It classifies the cat through the container and gets the host server's answer, runs as
a non-root user on a read-only root filesystem with no torch, Ray or Spark inside, passes
its own HEALTHCHECK, and on SIGTERM drains and exits 0.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tensorgate.server.process import ServerProcess
from tests.deploy.tools import REPO

pytestmark = pytest.mark.slow

IMAGE = "localhost/tensorgate:test"
TOKEN = "container-test-token"
MODEL = "efficientnet-lite0"


def container_sh(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(REPO / "scripts" / "container.sh"), *args],
        capture_output=True, text=True, timeout=timeout, cwd=REPO,
    )  # fmt: skip


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return container_sh("podman", *args, timeout=timeout)


@dataclass
class Running:
    name: str
    url: str
    process: subprocess.Popen[str]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def image() -> str:
    built = container_sh("build", "--tag", IMAGE)
    assert built.returncode == 0, built.stderr[-4000:]
    return IMAGE


@pytest.fixture
def running(image: str) -> Iterator[Running]:
    """`podman run` attached: its stdout is the server's, its exit code the container's."""
    name = f"tensorgate-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    command = [
        "bash", str(REPO / "scripts" / "container.sh"), "podman", "run", "--rm",
        "--name", name, "--read-only", "--network", "host",
        "-e", "TENSORGATE_HOST=127.0.0.1", "-e", f"TENSORGATE_PORT={port}",
        "-e", f"TENSORGATE_GRPC_PORT={free_port()}", "-e", f"TENSORGATE_AUTH_TOKEN={TOKEN}",
        "-e", "TENSORGATE_SHUTDOWN_DELAY=0.5", image,
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until the server announces itself
    assert line, process.stderr.read() if process.stderr else "no output"
    event = json.loads(line)
    assert event["event"] == "listening"
    try:
        yield Running(name, event["url"], process)
    finally:
        if process.poll() is None:
            podman("kill", "--signal", "KILL", name)
            process.wait(timeout=60)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def classify(url: str, jpeg: bytes) -> list[dict[str, object]]:
    answer = httpx.post(
        f"{url}/v2/models/{MODEL}/classify?top_k=5",
        content=jpeg,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    predictions: list[dict[str, object]] = answer.json()["results"][0]["predictions"]
    return predictions


def test_the_container_answers_as_the_host_server_does_then_drains_on_sigterm(
    running: Running, server: ServerProcess, cat_jpeg: bytes
) -> None:
    inside = classify(running.url, cat_jpeg)
    outside = httpx.post(
        f"{server.url}/v2/models/{MODEL}/classify?top_k=5", content=cat_jpeg, timeout=30
    ).json()["results"][0]["predictions"]
    assert [p["index"] for p in inside] == [p["index"] for p in outside]
    for a, b in zip(inside, outside, strict=True):
        assert a["score"] == pytest.approx(b["score"], abs=1e-5)
    assert inside[0]["index"] in range(281, 286)  # a domestic cat
    # Health routes are public; everything else needs the token.
    assert httpx.get(f"{running.url}/v2/health/ready").status_code == 200
    assert httpx.post(f"{running.url}/v2/models/{MODEL}/classify").status_code == 401
    # The image's own HEALTHCHECK passes.
    checked = podman("healthcheck", "run", running.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # SIGTERM: a clean drain and exit code 0.
    podman("kill", "--signal", "TERM", running.name)
    assert running.process.wait(timeout=90) == 0
    stderr = running.process.stderr.read() if running.process.stderr else ""
    assert "Traceback" not in stderr, stderr[-3000:]


def test_the_container_runs_unprivileged_read_only_and_without_torch(running: Running) -> None:
    whoami = podman("exec", running.name, "python3", "-c", "import os; print(os.getuid())")
    assert whoami.stdout.strip() == "10001", whoami.stderr
    write = podman("exec", running.name, "python3", "-c", "open('/opt/x', 'w')")
    assert write.returncode != 0
    assert "Read-only file system" in write.stderr
    probe = (
        "import importlib.util as u, json; "
        "print(json.dumps({m: u.find_spec(m) is not None "
        "for m in ('torch', 'ray', 'pyspark', 'onnxruntime', 'grpc')}))"
    )
    found = podman("exec", running.name, "/opt/tensorgate/bin/python", "-c", probe)
    assert json.loads(found.stdout) == {
        "torch": False, "ray": False, "pyspark": False, "onnxruntime": True, "grpc": True,
    }  # fmt: skip


def test_a_mounted_repository_replaces_the_baked_one(image: str, tmp_path: Path) -> None:
    """The baked repository is only a default: a volume at /models replaces it."""
    from tests.helpers import build_test_repository

    repository = build_test_repository(tmp_path / "repository")
    port = free_port()
    out = podman(
        "run", "--rm", "--read-only", "--network", "host",
        "-v", f"{repository}:/models:ro",
        "-e", "TENSORGATE_HOST=127.0.0.1", "-e", f"TENSORGATE_PORT={port}",
        "-e", "TENSORGATE_GRPC_PORT=-1",
        "--entrypoint", "tensorgate", image, "models", "list", "--repository", "/models",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "fake" in out.stdout
    assert MODEL not in out.stdout
