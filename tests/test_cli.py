"""The CLI: every command's --help, and its errors (the examples run in test_readme)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tensorgate.cli import app

COMMANDS = [
    [],
    ["serve"],
    ["classify"],
    ["models"],
    ["models", "list"],
    ["zoo"],
    ["zoo", "list"],
    ["zoo", "pull"],
    ["devices"],
    ["convert"],
    ["optimize"],
    ["batch"],
    ["plan"],
    ["bench"],
    ["tune"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "tensorgate")
def test_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_serve_help_lists_the_options() -> None:
    output = CliRunner().invoke(app, ["serve", "--help"], terminal_width=200).output
    for option in (
        "--host",
        "--port",
        "--instances",
        "--max-batch-size",
        "--max-queue-delay-ms",
        "--decode-threads",
        "--decode-on",
        "--device",
    ):
        assert option in output


def test_serve_decodes_with_the_threads_it_is_given(zoo_repository: Path, cat_jpeg: bytes) -> None:
    import httpx

    from tensorgate.server.process import spawn_server

    refused = CliRunner().invoke(app, ["serve", str(zoo_repository), "--decode-threads", "0"])
    assert refused.exit_code == 2
    assert "--decode-threads" in refused.output
    refused = CliRunner().invoke(app, ["serve", str(zoo_repository), "--decode-on", "gpu"])
    assert refused.exit_code == 2
    assert "'gpu' is not one of" in refused.output
    model = "efficientnet-lite0"
    args = ("--model", model, "--decode-threads", "1", "--decode-on", "pool")
    with spawn_server(zoo_repository, *args) as server:
        answer = httpx.post(f"{server.url}/v2/models/{model}/classify?top_k=1", content=cat_jpeg)
        assert answer.status_code == 200, answer.text
        (result,) = answer.json()["results"]
        assert result["predictions"][0]["index"] in range(281, 286)  # a domestic cat


def test_serve_refuses_a_public_bind_without_a_token(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", str(tmp_path), "--host", "0.0.0.0"])
    assert result.exit_code == 1
    assert "host '0.0.0.0' is not a loopback address" in result.output


def test_serve_is_configured_by_environment_variables_as_containers_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the image, the Helm chart and the KServe runtime set reaches the settings."""
    import tensorgate.server.runner as runner
    from tensorgate.config import EngineSettings, ServerSettings

    seen: list[tuple[EngineSettings, ServerSettings, str]] = []
    monkeypatch.setattr(
        runner, "serve", lambda engine, server, log_level: seen.append((engine, server, log_level))
    )
    env = {
        "TENSORGATE_REPOSITORY": str(tmp_path),
        "TENSORGATE_HOST": "0.0.0.0",
        "TENSORGATE_PORT": "8080",
        "TENSORGATE_GRPC_PORT": "8081",
        "TENSORGATE_ALLOW_UNAUTHENTICATED": "true",
        "TENSORGATE_MODELS": "alpha beta",
        "TENSORGATE_INSTANCES": "3",
        "TENSORGATE_DEVICE": "cpu",
        "TENSORGATE_REQUEST_TIMEOUT": "12.5",
        "TENSORGATE_SHUTDOWN_DELAY": "5",
        "TENSORGATE_DRAIN_TIMEOUT": "25",
        "TENSORGATE_MEMORY_BUDGET": "cpu=2GiB",
        "TENSORGATE_NO_ACCESS_LOG": "1",
        "TENSORGATE_LOG_LEVEL": "warning",
    }
    result = CliRunner().invoke(app, ["serve"], env=env)
    assert result.exit_code == 0, result.output
    ((engine, server, log_level),) = seen
    assert engine.repository == tmp_path
    assert engine.models == ("alpha", "beta")
    assert (engine.instances, engine.device) == (3, "cpu")
    assert (engine.request_timeout_s, engine.drain_timeout_s) == (12.5, 25.0)
    assert engine.memory_budget == {"cpu": 2 * 1024**3}
    assert (server.host, server.port, server.grpc_port) == ("0.0.0.0", 8080, 8081)
    assert server.allow_unauthenticated
    assert server.auth_token is None
    assert (server.shutdown_delay_s, server.access_log, log_level) == (5.0, False, "warning")


def test_classify_unknown_model_says_so(
    zoo_repository: Path, tmp_path: Path, cat_jpeg: bytes
) -> None:
    image = tmp_path / "cat.jpg"
    image.write_bytes(cat_jpeg)
    result = CliRunner().invoke(
        app, ["classify", str(image), "--model", "nope", "--repository", str(zoo_repository)]
    )
    assert result.exit_code == 1
    assert "error: model 'nope' is not in the repository" in result.output


def test_models_list_reads_a_repository(zoo_repository: Path) -> None:
    result = CliRunner().invoke(app, ["models", "list", "--repository", str(zoo_repository)])
    assert result.exit_code == 0
    assert re.search(r"^efficientnet-lite0\s+1\s", result.output, re.MULTILINE), result.output


def test_zoo_pull_of_an_unknown_model(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["zoo", "pull", "resnet-9000", "--repository", str(tmp_path)])
    assert result.exit_code == 1
    assert "the zoo has no model 'resnet-9000'; it has efficientnet-lite0" in result.output


def test_serve_a_missing_repository_fails_before_starting(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", str(tmp_path / "nope"), "--port", "0"])
    assert result.exit_code == 1
    assert f"error: model repository '{tmp_path / 'nope'}' is not a directory" in result.output


def test_remote_commands_send_the_token_and_report_http_errors(test_repository: Path) -> None:
    from tensorgate.server.process import spawn_server

    runner = CliRunner()
    with spawn_server(test_repository, "--model", "fake", "--auth-token", "s3cret") as server:
        refused = runner.invoke(app, ["models", "list", "--url", server.url])
        assert refused.exit_code == 1
        assert "error: HTTP 401: missing or wrong bearer token" in refused.output
        listed = runner.invoke(
            app, ["models", "list", "--url", server.url, "--auth-token", "s3cret"]
        )
        assert listed.exit_code == 0, listed.output
        assert "fake   1        READY" in listed.output


def test_remote_commands_say_when_the_server_is_unreachable() -> None:
    result = CliRunner().invoke(app, ["models", "list", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "error: cannot reach http://127.0.0.1:9" in result.output


def test_classify_globs_s3_keys_and_bad_files(
    zoo_repository: Path, tmp_path: Path, cat_jpeg: bytes, coffee_png: bytes, s3_env: object
) -> None:
    from tests.seaweed import S3Server

    assert isinstance(s3_env, S3Server)
    (tmp_path / "a.jpg").write_bytes(cat_jpeg)
    (tmp_path / "b.png").write_bytes(coffee_png)
    (tmp_path / "c.jpg").write_bytes(b"not an image")
    result = CliRunner().invoke(
        app,
        [
            "classify", str(tmp_path / "*.png"), str(tmp_path / "a.jpg"), str(tmp_path / "c.jpg"),
            "s3://photos/cats/cat.jpg", "s3://photos/nope.jpg",
            "--repository", str(zoo_repository), "--s3-endpoint", s3_env.endpoint,
            "--top-k", "1", "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    rows = json.loads(result.output)
    assert [r["image"] for r in rows] == [
        str(tmp_path / "b.png"), str(tmp_path / "a.jpg"), str(tmp_path / "c.jpg"),
        "s3://photos/cats/cat.jpg", "s3://photos/nope.jpg",
    ]  # fmt: skip
    assert rows[0]["predictions"][0]["label"] == "espresso"
    assert rows[1]["predictions"][0]["index"] in range(281, 286)
    assert rows[2]["status"] == 400
    assert rows[3]["predictions"][0]["index"] in range(281, 286)
    assert rows[4] == {
        "image": "s3://photos/nope.jpg",
        "error": "s3://photos/nope.jpg does not exist",
        "status": 404,
    }


def test_classify_says_when_nothing_matches(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["classify", str(tmp_path / "*.jpg")])
    assert result.exit_code == 1
    assert "error: no file matches" in result.output
    result = CliRunner().invoke(app, ["classify", str(tmp_path / "missing.jpg")])
    assert result.exit_code == 1
    assert "is not a file, a glob or an s3:// key" in result.output
