"""The Lambda container image (scripts/container.sh build-lambda), started with podman
as Lambda starts it: its entry point is the runtime client, which reaches the Runtime
API emulator over the host's loopback; the model is baked in at /var/task/models (slow).
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from tensorgate.server.process import ServerProcess
from tests.deploy.test_container import container_sh, podman
from tests.deploy.tools import REPO
from tests.serverless.runtime_api import RuntimeApi
from tests.serverless.test_lambda import MODEL, v2_event

pytestmark = pytest.mark.slow

IMAGE = "localhost/tensorgate-lambda:test"


def test_the_lambda_image_answers_as_the_server_does(
    tmp_path: Path, server: ServerProcess, cat_jpeg: bytes
) -> None:
    built = container_sh("build-lambda", "--tag", IMAGE)
    assert built.returncode == 0, built.stderr[-4000:]
    name = f"tensorgate-lambda-{uuid.uuid4().hex[:8]}"
    with RuntimeApi() as api:
        log = tmp_path / "function.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    "bash", str(REPO / "scripts" / "container.sh"), "podman", "run", "--rm",
                    "--name", name, "--read-only", "--network", "host",
                    "-e", f"AWS_LAMBDA_RUNTIME_API={api.address}",
                    "-e", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=2048", IMAGE,
                ],
                stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
            )  # fmt: skip
        try:
            path = f"/v2/models/{MODEL}/classify"
            outcome = api.invoke(v2_event(path, cat_jpeg, "image/jpeg", "top_k=3"), timeout_s=120)
            assert outcome.kind == "response", (outcome.body, log.read_text()[-3000:])
            assert outcome.body["statusCode"] == 200, outcome.body
            got = json.loads(outcome.body["body"])["results"][0]["predictions"]
            expected = httpx.post(f"{server.url}{path}?top_k=3", content=cat_jpeg).json()
            assert [p["index"] for p in got] == [
                p["index"] for p in expected["results"][0]["predictions"]
            ]
        finally:
            podman("kill", "--signal", "KILL", name)
            process.wait(timeout=60)
