"""Remote sources over a real server: S3 keys (SeaweedFS) and URLs in one request, each
answered on its own; the clients' load_and_predict; the in-process Predictor."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tensorgate import (
    AsyncClient,
    BlockedSourceError,
    Client,
    EngineSettings,
    InvalidInputError,
    Prediction,
    Predictor,
    SourceNotFoundError,
)
from tensorgate.server.process import ServerProcess, spawn_server
from tensorgate.sources import S3Policy, SourcePolicy
from tests.conftest import CAT_CLASSES, ESPRESSO
from tests.seaweed import S3Server


@pytest.fixture(scope="module")
def photo_site(tmp_path_factory: pytest.TempPathFactory, cat_jpeg: bytes) -> Iterator[str]:
    """A plain HTTP server on 127.0.0.1 with cat.jpg."""
    root = tmp_path_factory.mktemp("site")
    (root / "cat.jpg").write_bytes(cat_jpeg)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def sources_server(test_repository: Path, s3: S3Server) -> Iterator[ServerProcess]:
    env = {
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    args = [
        "--model", "efficientnet-lite0", "--instances", "2",
        "--s3-allow", "photos", "--s3-endpoint", s3.endpoint,
        "--allow-urls", "--url-allow-http", "--url-trust-network", "127.0.0.1/32",
    ]  # fmt: skip
    with spawn_server(test_repository, *args, env=env) as server:
        yield server


def test_each_source_is_answered_on_its_own(sources_server: ServerProcess, photo_site: str) -> None:
    sources = [
        "s3://photos/cats/cat.jpg",
        "s3://photos/coffee.png",
        "s3://photos/missing.jpg",
        "s3://private/secret.jpg",
        "s3://photos/broken.jpg",
        f"{photo_site}/cat.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "ftp://example.com/x.jpg",
    ]
    response = httpx.post(
        f"{sources_server.url}/v2/models/efficientnet-lite0/classify/sources",
        json={"sources": sources, "top_k": 2},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["source"] for r in results] == sources
    assert results[0]["predictions"][0]["index"] in CAT_CLASSES
    assert len(results[0]["predictions"]) == 2
    assert results[1]["predictions"][0]["index"] == ESPRESSO
    assert results[2]["status"] == 404
    assert results[2]["error"] == "s3://photos/missing.jpg does not exist"
    assert results[3]["status"] == 403
    assert "outside the allowed buckets" in results[3]["error"]
    assert results[4]["status"] == 400
    assert "JPEG image" in results[4]["error"]
    assert results[5]["predictions"][0]["index"] in CAT_CLASSES
    assert results[6]["status"] == 403
    assert "not a public address" in results[6]["error"]
    assert results[7]["status"] == 400


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"sources": []}, "'sources' must be a non-empty list"),
        ({"sources": ["s3://photos/a.jpg"] * 65}, "'sources' has 65 items; at most 64"),
        ({"sources": ["s3://photos/a.jpg"], "top_k": 0}, "'top_k' must be an integer >= 1"),
    ],
)
def test_bad_sources_requests_are_400(
    sources_server: ServerProcess, body: dict[str, object], message: str
) -> None:
    response = httpx.post(
        f"{sources_server.url}/v2/models/efficientnet-lite0/classify/sources", json=body
    )
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_client_load_and_predict(sources_server: ServerProcess) -> None:
    with Client(sources_server.url) as client:
        cat, coffee, missing = client.load_and_predict(
            "photos", ["cats/cat.jpg", "coffee.png", "nope.jpg"]
        ).result(timeout=60)
    assert isinstance(cat, Prediction)
    assert cat.classes[0].index in CAT_CLASSES
    assert cat.source == "s3://photos/cats/cat.jpg"
    assert isinstance(coffee, Prediction)
    assert coffee.label == "espresso"
    assert isinstance(missing, SourceNotFoundError)


async def test_async_client_load_and_predict(sources_server: ServerProcess) -> None:
    async with AsyncClient(sources_server.url) as client:
        (secret, broken) = await client.load_and_predict("private", ["secret.jpg"]) + (
            await client.load_and_predict("photos", ["broken.jpg"])
        )
    assert isinstance(secret, BlockedSourceError)
    assert isinstance(broken, InvalidInputError)
    assert "HTTP 400: JPEG image" in broken.message


def test_predictor_load_and_predict(zoo_repository: Path, s3_env: S3Server) -> None:
    settings = EngineSettings(
        repository=zoo_repository,
        instances=1,
        sources=SourcePolicy(s3=S3Policy(allowed=("photos",), endpoint_url=s3_env.endpoint)),
    )
    with Predictor(settings) as predictor:
        cat, missing = predictor.load_and_predict("photos", ["cats/cat.jpg", "x.jpg"]).result(60)
    assert isinstance(cat, Prediction)
    assert cat.classes[0].index in CAT_CLASSES
    assert isinstance(missing, SourceNotFoundError)
