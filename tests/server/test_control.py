"""Model control over HTTP: tokens on every route, load / unload / reload on a real
server under load, and the CLI commands that drive it."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from starlette.applications import Starlette
from starlette.routing import Route
from tritonclient.utils import InferenceServerException
from typer.testing import CliRunner

from tensorgate.cli import app as cli_app
from tensorgate.client import AsyncClient, Client
from tensorgate.config import EngineSettings, ServerSettings
from tensorgate.engine import Engine
from tensorgate.errors import (
    BlockedSourceError,
    InvalidInputError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from tensorgate.server.app import (
    CONTROL_PATH,
    PUBLIC_PATHS,
    AccessGuard,
    CloseWhenDraining,
    create_app,
    is_public,
)
from tensorgate.server.infer import INFER_ROUTES, InferRoute
from tensorgate.server.observe import Observe
from tensorgate.server.process import ServerProcess, spawn_server
from tests.test_registry import add_version

API, CONTROL = "api-secret", "ctl-secret"


@pytest.fixture(scope="module")
def control_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("control")
    add_version(repo, "m", 1, offset=1000, delay_s=0.001)
    add_version(repo, "other", 1)
    return repo


@pytest.fixture(scope="module")
def control_server(control_repo: Path) -> Iterator[ServerProcess]:
    with spawn_server(
        control_repo, "--model-control", "--control-token", CONTROL, "--instances", "1"
    ) as process:
        yield process


def call(url: str, path: str, token: str | None = None, **kw: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(url + path, headers=headers, timeout=30, **kw)  # type: ignore[arg-type]


async def test_every_route_refuses_without_its_token(control_repo: Path) -> None:
    engine = Engine(EngineSettings(repository=control_repo, instances=1))
    settings = ServerSettings(auth_token=API, model_control=True, control_token=CONTROL)
    observe = create_app(engine, settings)
    assert isinstance(observe, Observe)  # the access log, outermost
    guard = observe.app
    assert isinstance(guard, AccessGuard)
    closer = guard.app
    assert isinstance(closer, CloseWhenDraining)
    infer = closer.app
    assert isinstance(infer, InferRoute)  # infer, answered before the router
    starlette = infer.app
    assert isinstance(starlette, Starlette)
    await engine.start()
    try:
        transport = httpx.ASGITransport(app=guard)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            checked = 0
            routes = [(r.path, r.methods) for r in starlette.routes if isinstance(r, Route)]
            assert len(routes) == len(starlette.routes)
            for pattern, methods in [*routes, *((p, {"POST"}) for p in INFER_ROUTES)]:
                path = re.sub(r"\{version\}", "1", re.sub(r"\{name\}", "other", pattern))
                for method in sorted(methods or ()):
                    if method == "HEAD":
                        continue
                    answers = {
                        token: (await client.request(method, path, headers=header)).status_code
                        for token, header in (
                            ("none", {}),
                            ("api", {"Authorization": f"Bearer {API}"}),
                            ("control", {"Authorization": f"Bearer {CONTROL}"}),
                        )
                    }
                    if path in PUBLIC_PATHS:
                        assert answers["none"] == 200, (method, path)
                    elif is_public(path):  # the console's page and files: no data
                        assert path.startswith("/console"), path
                        assert answers["none"] != 401, (method, path)
                    elif CONTROL_PATH.match(path):
                        assert answers["none"] == answers["api"] == 401, (method, path)
                        assert answers["control"] == 200, (method, path)
                    else:
                        assert answers["none"] == answers["control"] == 401, (method, path)
                        assert answers["api"] != 401, (method, path)
                    checked += 1
            assert checked >= 20  # every V2, image, control and metrics route
    finally:
        await engine.stop()


def test_control_is_off_by_default_and_needs_a_token() -> None:
    with pytest.raises(Exception, match="model control is on but no token guards it"):
        ServerSettings(model_control=True)


def test_load_and_unload_through_tritonclient(control_server: ServerProcess) -> None:
    client = httpclient.InferenceServerClient(control_server.host_port)
    with pytest.raises(InferenceServerException, match="missing or wrong bearer token"):
        client.unload_model("other")
    auth = {"Authorization": f"Bearer {CONTROL}"}
    client.unload_model("other", headers=auth)
    assert not client.is_model_ready("other")
    assert client.is_server_ready()  # unloaded on purpose: the server stays ready
    index = {m["name"]: m for m in client.get_model_repository_index()}
    assert index["other"]["state"] == "UNAVAILABLE"
    assert "unloaded by request" in index["other"]["reason"]
    client.load_model("other", headers=auth)
    assert client.is_model_ready("other")
    assert control_server.grpc is not None
    over_grpc = grpcclient.InferenceServerClient(control_server.grpc)
    grpc_auth = {"authorization": f"Bearer {CONTROL}"}
    over_grpc.unload_model("other", headers=grpc_auth)
    assert not over_grpc.is_model_ready("other")
    over_grpc.load_model("other", headers=grpc_auth)
    assert over_grpc.is_model_ready("other")
    with pytest.raises(InferenceServerException, match="UNAUTHENTICATED"):
        over_grpc.load_model("other")


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/v2/repository/models/%2E%2E/load", None, 400, "model name '..' is not valid"),
        ("/v2/repository/models/..%2F..%2Fetc/load", None, 404, "no route"),
        ("/v2/repository/models/-rf/load", None, 400, "model name '-rf' is not valid"),
        ("/v2/repository/models/nope/load", None, 404, "model 'nope' is not in the repository"),
        (
            "/v2/repository/models/m/load",
            {"parameters": {"config": '{"backend": "onnxruntime"}'}},
            400,
            "load parameter 'config' is not accepted",
        ),
        (
            "/v2/repository/models/m/load",
            {"parameters": {"file:1/model.onnx": "AAAA"}},
            400,
            "load parameter 'file:1/model.onnx' is not accepted",
        ),
        ("/v2/repository/models/m/unload", {"parameters": 3}, 400, "must be {}"),
    ],
)
def test_bad_control_requests_are_refused(
    control_server: ServerProcess, path: str, body: object, status: int, message: str
) -> None:
    response = call(control_server.url, path, CONTROL, json=body)
    assert response.status_code == status
    assert message in response.json()["error"]
    assert call(control_server.url, "/v2/models/m/infer", json=_feed()).status_code == 200


def _feed() -> dict[str, object]:
    return {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 1, 1]}]}


def test_reloads_under_load_fail_no_request(
    control_server: ServerProcess, control_repo: Path
) -> None:
    """4 clients, 1,200 requests, 3 new versions swapped in meanwhile: none fails."""
    answers: list[float] = []
    failures: list[str] = []
    progress = threading.Condition()

    def client() -> None:
        with httpx.Client(base_url=control_server.url, timeout=30) as http:
            for _ in range(300):
                response = http.post("/v2/models/m/infer", json=_feed())
                with progress:
                    if response.status_code == 200:
                        answers.append(response.json()["outputs"][0]["data"][0])
                    else:
                        failures.append(f"{response.status_code}: {response.text}")
                    progress.notify_all()

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    for version in (2, 3, 4):
        with progress:  # let traffic flow between reloads
            target = 250 * (version - 1)

            def reached(target: int = target) -> bool:
                return len(answers) + len(failures) >= target

            progress.wait_for(reached, 60)
        add_version(control_repo, "m", version, offset=1000 * version, delay_s=0.001)
        assert call(control_server.url, "/v2/repository/models/m/load", CONTROL).status_code == 200
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(answers) == 1200
    assert {1003.0, 4003.0} <= set(answers)  # both the first and the last version answered
    assert answers[-1] == 4003.0


def test_cli_models_load_unload_list(control_server: ServerProcess) -> None:
    runner = CliRunner()
    url = ["--url", control_server.url]
    result = runner.invoke(cli_app, ["models", "unload", "other", *url])
    assert result.exit_code == 1
    assert "HTTP 401: missing or wrong bearer token" in result.output
    token = ["--control-token", CONTROL]
    result = runner.invoke(cli_app, ["models", "unload", "other", *url, *token])
    assert result.exit_code == 0, result.output
    assert result.output == "unloaded other\n"
    listing = runner.invoke(cli_app, ["models", "list", *url]).output
    assert re.search(r"other\s+1\s+UNAVAILABLE", listing)
    result = runner.invoke(cli_app, ["models", "load", "other", *url, *token])
    assert result.output == "loaded other\n"
    listing = runner.invoke(cli_app, ["models", "list", *url]).output
    assert re.search(r"other\s+1\s+READY", listing)


def test_clients_raise_the_authentication_and_permission_errors(
    control_server: ServerProcess, server: ServerProcess
) -> None:
    waits: list[float] = []
    wrong = Client(control_server.url, control_token="wrong", sleep=waits.append)
    with wrong, pytest.raises(UnauthenticatedError, match="HTTP 401: missing or wrong bearer"):
        wrong.unload_model("other").result()
    with Client(server.url, sleep=waits.append) as client:  # model control is off there
        with pytest.raises(PermissionDeniedError, match="HTTP 403: model control is off") as info:
            client.load_model("fake").result()
        assert not isinstance(info.value, BlockedSourceError)
    assert waits == []  # neither is retried


async def test_async_client_maps_statuses_the_same_way(control_server: ServerProcess) -> None:
    async with AsyncClient(control_server.url, control_token="wrong") as client:
        with pytest.raises(UnauthenticatedError):
            await client.load_model("other")
    async with AsyncClient(control_server.url, control_token=CONTROL) as client:
        index = {(e.name, e.version): e.state for e in await client.repository_index()}
        assert index[("other", 1)] == "READY"


def test_an_unloaded_model_answers_400_as_triton_does_and_is_not_retried(
    control_server: ServerProcess,
) -> None:
    waits: list[float] = []
    with Client(control_server.url, "other", control_token=CONTROL, sleep=waits.append) as client:
        client.unload_model("other").result()
        try:
            response = call(control_server.url, "/v2/models/other/infer", json=_feed())
            assert response.status_code == 400
            assert response.json()["error"] == (
                "Request for unknown model: 'other' has no available versions; it is "
                "UNAVAILABLE: unloaded by request; load it again through the repository API"
            )
            with pytest.raises(InvalidInputError, match="has no available versions"):
                client.infer({"x": np.ones((1, 3), np.float32)}).result()
            assert waits == []  # a 503 would have been retried
            assert control_server.grpc is not None
            over_grpc = grpcclient.InferenceServerClient(control_server.grpc)
            x = grpcclient.InferInput("x", [1, 3], "FP32")
            x.set_data_from_numpy(np.ones((1, 3), np.float32))
            with pytest.raises(InferenceServerException) as info:
                over_grpc.infer("other", [x])
            assert info.value.status() == "StatusCode.NOT_FOUND"
            assert "has no available versions" in info.value.message()
        finally:
            client.load_model("other").result()
        assert client.infer({"x": np.ones((1, 3), np.float32)}).result()["y"].shape == (1, 2)
