"""The web console's page, files and JSON routes over a real server (the browser test
is tests/server/test_console_browser.py, in the slow suite)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import httpx
import pytest

from tensorgate.server.console import CONSOLE_FILES, SECURITY_HEADERS
from tensorgate.server.process import ServerProcess, spawn_server
from tests.helpers import build_test_repository

TOKEN = "console-secret"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, lite0_dir: Path) -> Iterator[ServerProcess]:
    repository = build_test_repository(tmp_path_factory.mktemp("repository"), lite0_dir)
    with spawn_server(repository, "--auth-token", TOKEN, "--instances", "1") as running:
        yield running


def get(server: ServerProcess, path: str, token: str | None = TOKEN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{server.url}{path}", headers=headers, timeout=30)


def test_the_page_and_its_files_are_public_and_locked_down(server: ServerProcess) -> None:
    page = get(server, "/console", token=None)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for name, value in SECURITY_HEADERS.items():
        assert page.headers[name] == value
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for name, media_type in CONSOLE_FILES.items():
        served = get(server, f"/console/static/{name}", token=None)
        assert served.status_code == 200
        assert served.headers["content-type"] == media_type
        assert served.headers["x-content-type-options"] == "nosniff"
    assert get(server, "/console/static/..%2Fconfig.py", token=None).status_code == 404
    assert get(server, "/console/static/nope.js", token=None).status_code == 404
    assert get(server, "/console/access", token=None).json() == {
        "auth": True,
        "model_control": False,
    }


def test_the_data_needs_the_token(server: ServerProcess) -> None:
    for path in ("/console/api/models", "/console/api/live", "/console/api/server"):
        refused = get(server, path, token=None)
        assert refused.status_code == 401, path
        assert get(server, path, token="wrong").status_code == 401
        assert get(server, path).status_code == 200


def test_models_live_and_server_documents(server: ServerProcess, cat_jpeg: bytes) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    before = get(server, "/console/api/live").json()
    answered = httpx.post(
        f"{server.url}/v2/models/efficientnet-lite0/classify",
        content=cat_jpeg,
        headers=headers,
        timeout=30,
    )
    assert answered.status_code == 200
    after = get(server, "/console/api/live").json()
    live = after["models"]["efficientnet-lite0"]
    was = before["models"].get("efficientnet-lite0", {}).get("requests", {}).get("success", 0)
    assert live["requests"]["success"] == was + 1
    assert live["latency"]["count"] >= 1
    assert live["latency"]["buckets"][-1][0] is None  # +Inf, as JSON can say it
    assert live["latency"]["buckets"][-1][1] == live["latency"]["count"]
    assert {"decode", "queue", "compute", "batch"} <= set(live)

    models = {
        (m["name"], m["version"]): m for m in get(server, "/console/api/models").json()["models"]
    }
    zoo = models[("efficientnet-lite0", 1)]
    assert zoo["state"] == "READY"
    assert zoo["task"] == "classify"
    assert zoo["memory"] > 1_000_000
    assert zoo["instances"] == 1
    assert zoo["max_batch_size"] >= 1
    assert models[("add_sub_fp32", 1)]["task"] is None  # tensors only: no image to try

    doc = get(server, "/console/api/server").json()
    assert doc["ready"] is True
    assert doc["limits"]["max_image_bytes"] == 20 * 1024 * 1024
    assert doc["settings"]["auth"] is True
    assert TOKEN not in str(doc)  # the token is never shown
    assert doc["devices"]["cpu"]["cores"] >= 1


def test_the_console_renders_text_only_and_fetches_nothing_from_elsewhere() -> None:
    files = resources.files("tensorgate.console")
    script = files.joinpath("console.js").read_text()
    # Every server value goes through textContent: no HTML parsing of data, no eval.
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink
    for name in CONSOLE_FILES:
        text = files.joinpath(name).read_text()
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text), name
    page = files.joinpath("index.html").read_text()
    assert "<script>" not in page  # nothing inline, as the CSP allows none
    assert "style=" not in page
