"""Every example in the README runs, against a real server where it needs one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tensorgate.server.process import ServerProcess

README = Path(__file__).resolve().parents[1] / "README.md"
DOC_URL = "http://127.0.0.1:8000"
DOC_HOST = "127.0.0.1:8000"


def blocks(language: str) -> list[str]:
    text = README.read_text().split("## Examples", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


EXAMPLE_LINES = [line for block in blocks("sh") for line in block.splitlines() if line.strip()]


@pytest.fixture
def workdir(tmp_path: Path, cat_jpeg: bytes) -> Path:
    (tmp_path / "cat.jpg").write_bytes(cat_jpeg)
    return tmp_path


def run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_readme_has_the_examples() -> None:
    assert len(EXAMPLE_LINES) >= 6
    assert len(blocks("python")) == 4


@pytest.mark.parametrize("line", EXAMPLE_LINES)
def test_shell_example(line: str, server: ServerProcess, workdir: Path) -> None:
    result = run(line.replace(DOC_URL, server.url), workdir)
    assert result.returncode == 0, result.stderr
    if "classify" in line:
        assert re.search(
            r"(tabby|tiger cat|Egyptian cat|Persian cat|Siamese cat)", result.stdout
        ), result.stdout
    elif line.startswith("tensorgate batch"):
        assert "1 input; 1 scored this run" in result.stdout, result.stdout
        assert re.search(
            r"cat\.jpg,(tabby|tiger cat|Egyptian cat)", (workdir / "scores.csv").read_text()
        )
    elif line.startswith("tensorgate embed"):
        assert '"dimension": 1280' in result.stdout, result.stdout
    elif line.startswith("tensorgate devices"):
        assert "auto       onnxruntime -> cpu" in result.stdout or "cuda:0" in result.stdout
    else:
        assert "efficientnet-lite0" in result.stdout


def test_python_in_process_example(workdir: Path, zoo_repository: Path) -> None:
    script = workdir / "example.py"
    script.write_text(blocks("python")[0])
    result = run(f"{sys.executable} {script}", workdir)
    assert result.returncode == 0, result.stderr
    label = result.stdout.rsplit(" ", 1)[0]
    assert label in {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"}


def test_python_client_example(workdir: Path, server: ServerProcess) -> None:
    script = workdir / "client_example.py"
    script.write_text(blocks("python")[1].replace(DOC_URL, server.url))
    result = run(f"{sys.executable} {script}", workdir)
    assert result.returncode == 0, result.stderr
    words = result.stdout.split()
    assert words
    assert all(word in "tabby tiger cat Egyptian Persian Siamese" for word in words)


def test_python_tritonclient_example(workdir: Path, server: ServerProcess) -> None:
    script = workdir / "triton_example.py"
    script.write_text(blocks("python")[2].replace(DOC_HOST, server.host_port))
    result = run(f"{sys.executable} -W ignore {script}", workdir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(4, 1000)"


def test_python_grpc_example(workdir: Path, server: ServerProcess) -> None:
    assert server.grpc is not None
    script = workdir / "grpc_example.py"
    script.write_text(blocks("python")[3].replace("127.0.0.1:8001", server.grpc))
    result = run(f"{sys.executable} -W ignore {script}", workdir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(2, 1000)"
