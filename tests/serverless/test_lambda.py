"""tensorgate as a Lambda function, run by the real runtime interface client
(``awslambdaric``) against the Runtime API emulator in tests/serverless/runtime_api.py.

Every HTTP answer is compared with the real server's answer to the same request.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tensorgate.server.process import ServerProcess
from tests.seaweed import S3Server
from tests.serverless.runtime_api import RuntimeApi

MODEL = "efficientnet-lite0"


@dataclass
class Function:
    api: RuntimeApi
    process: subprocess.Popen[bytes]


def function_env(repository: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "TENSORGATE_REPOSITORY": str(repository),
        "AWS_LAMBDA_FUNCTION_NAME": "tensorgate",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048",
        "AWS_REGION": "us-east-1",
        **extra,
    }


def start_function(api: RuntimeApi, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """The function under the real runtime client; its output goes to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "awslambdaric", "tensorgate.serverless.handler.handler"],
            env={**env, "AWS_LAMBDA_RUNTIME_API": api.address},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture(scope="module")
def lambda_repository(tmp_path_factory: pytest.TempPathFactory, lite0_dir: Path) -> Path:
    import shutil

    repository = tmp_path_factory.mktemp("lambda") / "models"
    shutil.copytree(lite0_dir, repository / MODEL)
    return repository


@pytest.fixture(scope="module")
def function(lambda_repository: Path, s3: S3Server) -> Iterator[Function]:
    log = lambda_repository.parent / "function.log"
    with RuntimeApi() as api:
        env = function_env(
            lambda_repository,
            TENSORGATE_S3_ENDPOINT=s3.endpoint,
            TENSORGATE_S3_ALLOW="photos",
            TENSORGATE_OUTPUT_BUCKET="results",
            AWS_ACCESS_KEY_ID=s3.access_key,
            AWS_SECRET_ACCESS_KEY=s3.secret_key,
        )
        s3.client().create_bucket(Bucket="results")  # type: ignore[attr-defined]
        process = start_function(api, env, log)
        try:
            assert api.first_next.wait(120), log.read_text()
            assert not api.init_failed.is_set(), api.init_error
            yield Function(api, process)
        finally:
            process.kill()
            process.wait(timeout=30)


def v2_event(path: str, body: bytes, content_type: str, query: str = "") -> dict[str, Any]:
    """A Function URL / HTTP API event (payload format 2.0) with a base64 body."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"content-type": content_type, "host": "abc.lambda-url.us-east-1.on.aws"},
        "requestContext": {
            "http": {"method": "POST", "path": path, "sourceIp": "203.0.113.9"},
            "requestId": "id",
        },
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def v1_event(path: str, body: bytes, content_type: str, top_k: str) -> dict[str, Any]:
    """An API Gateway REST event (payload format 1.0)."""
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "POST",
        "headers": {"Content-Type": content_type},
        "multiValueHeaders": {"Content-Type": [content_type]},
        "queryStringParameters": {"top_k": top_k},
        "multiValueQueryStringParameters": {"top_k": [top_k]},
        "requestContext": {"identity": {"sourceIp": "203.0.113.9"}},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def multipart(*files: tuple[str, bytes]) -> tuple[bytes, str]:
    request = httpx.Request(
        "POST", "http://x/", files=[("image", (name, data, "image/jpeg")) for name, data in files]
    )
    return request.read(), request.headers["content-type"]


def test_function_url_event_answers_as_the_server_does(
    function: Function, server: ServerProcess, cat_jpeg: bytes
) -> None:
    path = f"/v2/models/{MODEL}/classify"
    outcome = function.api.invoke(v2_event(path, cat_jpeg, "image/jpeg", "top_k=3"))
    assert outcome.kind == "response", outcome.body
    answer = outcome.body
    assert answer["statusCode"] == 200
    assert answer["isBase64Encoded"] is False
    assert answer["headers"]["content-type"] == "application/json"
    expected = httpx.post(f"{server.url}{path}?top_k=3", content=cat_jpeg)
    assert json.loads(answer["body"]) == expected.json()
    assert json.loads(answer["body"])["results"][0]["predictions"][0]["index"] in range(281, 286)


def test_api_gateway_v1_multipart_answers_as_the_server_does(
    function: Function, server: ServerProcess, cat_jpeg: bytes, coffee_png: bytes
) -> None:
    path = f"/v2/models/{MODEL}/classify"
    body, content_type = multipart(("cat.jpg", cat_jpeg), ("coffee.png", coffee_png))
    outcome = function.api.invoke(v1_event(path, body, content_type, "2"))
    assert outcome.kind == "response", outcome.body
    answer = outcome.body
    assert answer["statusCode"] == 200
    assert answer["multiValueHeaders"]["content-type"] == ["application/json"]
    expected = httpx.post(
        f"{server.url}{path}?top_k=2", content=body, headers={"content-type": content_type}
    )
    assert json.loads(answer["body"]) == expected.json()
    assert [r["filename"] for r in json.loads(answer["body"])["results"]] == [
        "cat.jpg",
        "coffee.png",
    ]


def test_json_sources_are_read_from_s3(function: Function) -> None:
    path = f"/v2/models/{MODEL}/classify/sources"
    doc = {"sources": ["s3://photos/cats/cat.jpg", "s3://private/secret.jpg"], "top_k": 1}
    outcome = function.api.invoke(v2_event(path, json.dumps(doc).encode(), "application/json"))
    answer = json.loads(outcome.body["body"])
    cat, private = answer["results"]
    assert cat["predictions"][0]["index"] in range(281, 286)
    assert private["status"] == 403  # not in TENSORGATE_S3_ALLOW


def test_bad_image_gets_the_servers_4xx_and_the_function_keeps_serving(
    function: Function, server: ServerProcess, cat_jpeg: bytes
) -> None:
    path = f"/v2/models/{MODEL}/classify"
    outcome = function.api.invoke(v2_event(path, b"not an image", "image/jpeg"))
    expected = httpx.post(f"{server.url}{path}", content=b"not an image")
    assert outcome.body["statusCode"] == expected.status_code == 400
    assert json.loads(outcome.body["body"]) == expected.json()
    again = function.api.invoke(v2_event(path, cat_jpeg, "image/jpeg"))
    assert again.body["statusCode"] == 200


def test_direct_invocation_answers_and_reports_errors_through_the_runtime_api(
    function: Function, server: ServerProcess, cat_jpeg: bytes
) -> None:
    image = base64.b64encode(cat_jpeg).decode()
    outcome = function.api.invoke({"model": MODEL, "image": image, "top_k": 2})
    assert outcome.kind == "response"
    expected = httpx.post(f"{server.url}/v2/models/{MODEL}/classify?top_k=2", content=cat_jpeg)
    assert outcome.body == expected.json()
    # The only model is the default one.
    assert function.api.invoke({"image": image}).body["model_name"] == MODEL
    # A refused image: the invocation's error, with the tensorgate error type and message.
    bad = function.api.invoke({"image": base64.b64encode(b"junk").decode()})
    assert bad.kind == "error"
    assert bad.body["errorType"] == "InvalidInputError"
    assert "image" in bad.body["errorMessage"]
    # A malformed event: ProtocolError, saying what to send.
    malformed = function.api.invoke({"model": MODEL})
    assert malformed.kind == "error"
    assert malformed.body["errorType"] == "ProtocolError"
    assert "images or sources" in malformed.body["errorMessage"]


def test_s3_event_scores_each_new_object_and_writes_its_answer(
    function: Function, s3: S3Server
) -> None:
    client: Any = s3.client()
    records = [
        {
            "eventSource": "aws:s3",
            "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "photos"}, "object": {"key": key, "size": size}},
        }
        for key, size in (("cats/cat.jpg", None), ("broken.jpg", 300))
    ]
    outcome = function.api.invoke({"Records": records})
    assert outcome.kind == "response", outcome.body
    assert outcome.body == {
        "written": [
            "s3://results/tensorgate-results/cats/cat.jpg.json",
            "s3://results/tensorgate-results/broken.jpg.json",
        ],
        "refused": 1,
        "skipped": [],
    }
    cat = json.loads(
        client.get_object(Bucket="results", Key="tensorgate-results/cats/cat.jpg.json")[
            "Body"
        ].read()
    )
    assert cat["source"] == "s3://photos/cats/cat.jpg"
    assert cat["results"][0]["predictions"][0]["index"] in range(281, 286)
    broken = json.loads(
        client.get_object(Bucket="results", Key="tensorgate-results/broken.jpg.json")["Body"].read()
    )
    assert broken["status"] == 400
    assert "error" in broken


def test_a_missing_object_fails_the_invocation_so_lambda_retries(function: Function) -> None:
    record = {
        "eventSource": "aws:s3",
        "s3": {"bucket": {"name": "photos"}, "object": {"key": "gone.jpg"}},
    }
    outcome = function.api.invoke({"Records": [record]})
    assert outcome.kind == "error"
    assert outcome.body["errorType"] == "NoSuchKey"


def test_init_failure_is_reported_through_the_runtime_api(tmp_path: Path) -> None:
    with RuntimeApi() as api:
        log = tmp_path / "function.log"
        process = start_function(api, function_env(tmp_path / "nowhere"), log)
        try:
            assert api.init_failed.wait(120), log.read_text()
            assert api.init_error is not None
            body = api.init_error.body
            assert body["errorType"] == "ConfigError"
            assert str(tmp_path / "nowhere") in body["errorMessage"]
            assert process.wait(timeout=60) != 0  # the environment is not used
        finally:
            process.kill()
            process.wait(timeout=30)


def test_the_function_imports_no_torch_ray_or_spark(lambda_repository: Path) -> None:
    code = (
        "import sys, json\n"
        "from tensorgate.serverless.function import from_environment\n"
        "f = from_environment()\n"
        "heavy = ('torch', 'ray', 'pyspark', 'boto3', 'grpc', 'uvicorn', 'matplotlib')\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=function_env(lambda_repository),
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
