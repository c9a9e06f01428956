"""The .zip package (scripts/lambda-zip.sh) run as Lambda's managed python3.12 runtime
runs it: unpacked into a task root, its repository found at $LAMBDA_TASK_ROOT/models,
started by a CPython 3.12 under the real runtime client, answering as the server does
(slow: it builds the package, about a minute)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tensorgate.server.process import ServerProcess
from tests.serverless.runtime_api import RuntimeApi
from tests.serverless.test_lambda import MODEL, v2_event
from tests.serverless.zip_layout import build_zip_runtime, python312

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(python312() is None, reason="no CPython 3.12 (pyenv) on this machine"),
]


def test_the_zip_answers_as_the_server_does_under_python312(
    tmp_path: Path, server: ServerProcess, cat_jpeg: bytes
) -> None:
    runtime = build_zip_runtime(tmp_path)
    assert runtime.zipped_bytes < 250 * 2**20
    unzipped = sum(p.stat().st_size for p in runtime.task_root.rglob("*") if p.is_file())
    assert unzipped < 250 * 2**20, f"{unzipped / 2**20:.0f} MiB unzipped: over Lambda's limit"
    assert not (runtime.task_root / "torch").exists()
    assert not (runtime.task_root / "awslambdaric").exists()  # the runtime brings its own
    # Byte-compiled for 3.12, since the task root is read-only on Lambda.
    assert list((runtime.task_root / "tensorgate" / "__pycache__").glob("*.cpython-312.pyc"))
    with RuntimeApi() as api:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048",
            "AWS_LAMBDA_RUNTIME_API": api.address,
            **runtime.env(),
        }
        log = tmp_path / "function.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                runtime.command(), env=env, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            path = f"/v2/models/{MODEL}/classify"
            outcome = api.invoke(v2_event(path, cat_jpeg, "image/jpeg", "top_k=3"), timeout_s=120)
            assert outcome.kind == "response", (outcome.body, log.read_text()[-3000:])
            assert outcome.body["statusCode"] == 200, outcome.body
            expected = httpx.post(f"{server.url}{path}?top_k=3", content=cat_jpeg).json()
            got = json.loads(outcome.body["body"])
            assert [p["index"] for p in got["results"][0]["predictions"]] == [
                p["index"] for p in expected["results"][0]["predictions"]
            ]
            for a, b in zip(
                got["results"][0]["predictions"],
                expected["results"][0]["predictions"],
                strict=True,
            ):
                assert a["score"] == pytest.approx(b["score"], abs=1e-5)
        finally:
            process.kill()
            process.wait(timeout=30)
