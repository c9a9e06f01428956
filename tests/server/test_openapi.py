"""The OpenAPI 3.1 document: checked in, equal to the app's routes, served, and
schemathesis fuzzing a live server finds no 5xx and no answer that breaks it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from starlette.applications import Starlette
from starlette.routing import Route

from tensorgate.config import EngineSettings
from tensorgate.engine import Engine
from tensorgate.protocol.openapi import openapi_document, rest_operations
from tensorgate.server.app import create_app
from tensorgate.server.infer import INFER_ROUTES
from tensorgate.server.process import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
CHECKED_IN = ROOT / "docs" / "openapi.yaml"
#: Every check but positive_data_acceptance: a schema cannot say "a JPEG" or "a tensor
#: of this model's shape", so schema-valid random bytes are rightly refused with 400.
CHECKS = ["-c", "all", "--exclude-checks", "positive_data_acceptance"]


def test_the_checked_in_document_is_current() -> None:
    assert yaml.safe_load(CHECKED_IN.read_text()) == openapi_document(), (
        "docs/openapi.yaml is stale: python -m tensorgate.protocol.openapi > docs/openapi.yaml"
    )


def test_the_document_describes_every_route_and_no_other(tmp_path: Path) -> None:
    app = create_app(Engine(EngineSettings(repository=tmp_path)))
    inner = app
    while not isinstance(inner, Starlette):  # the access guard and drain wrappers
        inner = inner.app  # type: ignore[attr-defined]
    routes = {
        (route.path, method)
        for route in inner.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    routes |= {(path, "POST") for path in INFER_ROUTES}  # answered before the router
    assert rest_operations(openapi_document()) == routes


def test_its_schemas_are_valid_json_schema_and_errors_have_one_shape() -> None:
    document = openapi_document()
    for schema in document["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path in ("/v2/health/live", "/v2/health/ready"):
                continue
            default = operation["responses"]["default"]["content"]["application/json"]
            assert default["schema"] == {"$ref": "#/components/schemas/Error"}, (path, method)


def test_the_server_serves_it(server: ServerProcess) -> None:
    served = httpx.get(f"{server.url}/openapi.json")
    assert served.status_code == 200
    assert served.headers["content-type"] == "application/json"
    assert served.json() == openapi_document()


def fuzz(server: ServerProcess, examples: int) -> tuple[int, str]:
    """Run schemathesis against the live server; (cases generated, its output)."""
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"), "run",
            f"{server.url}/openapi.json", *CHECKS, "-n", str(examples), "--seed", "1",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:]
    found = re.search(r"(\d+) generated, (\d+) passed", done.stdout)
    assert found is not None, done.stdout[-2000:]
    assert found.group(1) == found.group(2)
    return int(found.group(1)), done.stdout


def test_schemathesis_finds_no_failure_on_a_short_budget(server: ServerProcess) -> None:
    cases, _ = fuzz(server, 5)
    assert cases > 300  # every operation was exercised (30 of them)
    assert httpx.get(f"{server.url}/v2/health/ready").status_code == 200  # still serving


@pytest.mark.slow
def test_schemathesis_finds_no_failure_on_a_long_run(server: ServerProcess) -> None:
    cases, output = fuzz(server, 200)
    print(f"schemathesis: {cases} cases, 0 failures")
    assert cases > 5000, output[-1000:]
