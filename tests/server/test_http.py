"""HTTP plumbing: error mapping, bearer auth, bounded and compressed bodies."""

from __future__ import annotations

import gzip
import json
import zlib

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tensorgate.access import AccessPolicy
from tensorgate.errors import (
    DeadlineExceededError,
    ModelNotFoundError,
    QueueFullError,
    TensorgateError,
)
from tensorgate.server.app import PUBLIC_PATHS, AccessGuard
from tensorgate.server.http import error_response, read_body


def test_errors_map_to_status_and_json() -> None:
    response = error_response(QueueFullError("queue is full", retry_after=2.0))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert json.loads(bytes(response.body)) == {"error": "queue is full"}
    assert error_response(DeadlineExceededError("late")).status_code == 504
    assert error_response(ModelNotFoundError("who")).status_code == 404


def client_for(app: object) -> httpx.AsyncClient:
    """An in-process client: requests go straight into the ASGI app."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")  # type: ignore[arg-type]


def echo_app(limit: int) -> Starlette:
    async def echo(request: Request) -> Response:
        try:
            body = await read_body(request, limit)
        except TensorgateError as exc:
            return error_response(exc)
        return Response(bytes(body))

    async def live(request: Request) -> Response:
        return Response(b"alive")

    return Starlette(
        routes=[
            Route("/echo", echo, methods=["POST"]),
            Route("/v2/health/live", live, methods=["GET"]),
        ]
    )


async def test_body_limit_and_compressed_bodies() -> None:
    client = client_for(echo_app(limit=1000))
    assert (await client.post("/echo", content=b"x" * 1000)).content == b"x" * 1000
    too_big = await client.post("/echo", content=b"x" * 1001)
    assert too_big.status_code == 413
    assert too_big.json()["error"] == "the request body is 1,001 bytes; the limit is 1,000"
    packed = gzip.compress(b"y" * 900)
    assert (
        await client.post("/echo", content=packed, headers={"Content-Encoding": "gzip"})
    ).content == b"y" * 900
    bomb = zlib.compress(b"\0" * 1_000_000)
    response = await client.post("/echo", content=bomb, headers={"Content-Encoding": "deflate"})
    assert response.status_code == 413
    assert "decompresses to more than 1,000 bytes" in response.json()["error"]
    response = await client.post("/echo", content=b"abc", headers={"Content-Encoding": "br"})
    assert response.status_code == 400
    assert (
        response.json()["error"]
        == "Content-Encoding 'br' is not supported; use gzip, deflate or none"
    )


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic c2VjcmV0", "bearer s3cret"])
async def test_bearer_auth_refuses_without_the_token(header: str | None) -> None:
    client = client_for(AccessGuard(echo_app(1000), AccessPolicy("s3cret")))
    headers = {} if header is None else {"Authorization": header}
    response = await client.post("/echo", content=b"hi", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "missing or wrong bearer token" in response.json()["error"]


async def test_bearer_auth_admits_the_token_and_the_probes() -> None:
    client = client_for(AccessGuard(echo_app(1000), AccessPolicy("s3cret")))
    ok = await client.post("/echo", content=b"hi", headers={"Authorization": "Bearer s3cret"})
    assert ok.content == b"hi"
    assert (await client.get("/v2/health/live")).content == b"alive"
    assert {"/v2/health/live", "/v2/health/ready"} == PUBLIC_PATHS


@pytest.mark.parametrize("raw", ["¹", "٣", "0", "01", "-1", "1.0", "x"])
def test_a_version_that_is_not_an_ascii_positive_integer_is_a_400(raw: str) -> None:
    """Found by schemathesis: "¹" passes str.isdigit but int() refuses it (was a 500)."""
    from starlette.requests import Request

    from tensorgate.errors import InvalidInputError
    from tensorgate.server.http import path_version

    request = Request({"type": "http", "path_params": {"version": raw}})
    with pytest.raises(InvalidInputError, match="model version must be a positive integer"):
        path_version(request)
    assert path_version(Request({"type": "http", "path_params": {"version": "12"}})) == 12
