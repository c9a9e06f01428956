"""Every Dockerfile passes hadolint; the image's health check answers like the probes."""

from __future__ import annotations

import subprocess

import pytest

from tests.deploy.tools import REPO, hadolint_bin

DOCKERFILES = sorted((REPO / "deploy" / "container").glob("Dockerfile*"))


def test_there_are_cpu_gpu_and_lambda_dockerfiles() -> None:
    assert [p.name for p in DOCKERFILES] == ["Dockerfile", "Dockerfile.gpu", "Dockerfile.lambda"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes(dockerfile: object) -> None:
    out = subprocess.run(
        [str(hadolint_bin()), "--no-color", str(dockerfile)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_hadolint_finds_what_it_should(tmp_path: object) -> None:
    """The lint can fail: an unpinned base and a root user are reported."""
    bad = REPO / "deploy" / "container" / "Dockerfile"
    text = bad.read_text().replace("USER 10001:10001", "USER root")
    out = subprocess.run(
        [str(hadolint_bin()), "--no-color", "-"], input=text, capture_output=True, text=True
    )
    assert out.returncode != 0
    assert "DL3002" in out.stdout  # last USER should not be root
