"""The .zip package as Lambda's managed python3.12 runtime runs it: built by
scripts/lambda-zip.sh, unpacked into a task root, and started by a CPython 3.12 with the
runtime interface client on its path (the managed runtime brings its own; here it is
``awslambdaric`` installed for 3.12 beside the task root, never inside it).
"""

from __future__ import annotations

import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HANDLER = "tensorgate.serverless.handler.handler"


def python312() -> Path | None:
    """A CPython 3.12 on this machine (pyenv's), or None."""
    for candidate in sorted(Path.home().glob(".pyenv/versions/3.12.*/bin/python3.12")):
        probe = subprocess.run([str(candidate), "-c", ""], capture_output=True, check=False)
        if probe.returncode == 0:
            return candidate
    return None


@dataclass(frozen=True)
class ZipRuntime:
    """What starting the function from the zip needs."""

    python: Path
    task_root: Path  # the unpacked zip: packages at its top, the repository in models/
    runtime_client: Path  # awslambdaric for 3.12, as the managed runtime has it
    zipped_bytes: int

    def command(self) -> list[str]:
        return [str(self.python), "-m", "awslambdaric", HANDLER]

    def env(self) -> dict[str, str]:
        return {
            "LAMBDA_TASK_ROOT": str(self.task_root),
            "PYTHONPATH": f"{self.task_root}:{self.runtime_client}",
        }


def build_zip_runtime(scratch: Path) -> ZipRuntime:
    """Build the zip (scripts/lambda-zip.sh), unpack it, and fetch the runtime client."""
    python = python312()
    if python is None:
        raise LookupError("no CPython 3.12 here (pyenv's 3.12.x) to run the zip as Lambda does")
    out = scratch / "tensorgate-lambda.zip"
    built = subprocess.run(
        ["bash", str(REPO / "scripts" / "lambda-zip.sh"), "--out", str(out)],
        capture_output=True, text=True, cwd=REPO, check=False,
    )  # fmt: skip
    if built.returncode != 0:
        raise RuntimeError(f"lambda-zip.sh failed:\n{built.stderr[-4000:]}")
    task_root = scratch / "task"
    with zipfile.ZipFile(out) as archive:
        archive.extractall(task_root)
    client = scratch / "runtime-client"
    subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "python"), "-m", "pip", "install", "--quiet",
            "--disable-pip-version-check", "--target", str(client),
            "--python-version", "3.12", "--implementation", "cp", "--only-binary=:all:",
            "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux2014_x86_64",
            "--platform", "manylinux_2_17_x86_64", "-c", str(REPO / "constraints.txt"),
            "awslambdaric",
        ],
        check=True, capture_output=True, cwd=REPO,
    )  # fmt: skip
    return ZipRuntime(python, task_root, client, out.stat().st_size)
