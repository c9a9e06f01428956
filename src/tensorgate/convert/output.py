"""Where a converted or optimized model goes: a file, or a new model directory.

Written beside the target and renamed into place, so a reader (a running server polling
the repository) never sees half a file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tensorgate.errors import ConfigError
from tensorgate.protocol.numbers import is_decimal
from tensorgate.repository.manifest import check_model_name

__all__ = ["install_file", "model_directory", "next_version", "staged_directory"]


def next_version(model_dir: Path) -> int:
    """One more than the highest numbered version in ``model_dir`` (1 if none)."""
    numbers = [int(p.name) for p in model_dir.glob("*") if p.is_dir() and is_decimal(p.name)]
    return max(numbers, default=0) + 1


@contextlib.contextmanager
def staged_directory(target: Path) -> Iterator[Path]:
    """A scratch directory beside ``target`` that replaces it (and anything there) in one
    rename when the block succeeds, and is removed when it fails."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        yield staging
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def install_file(source: Path, target: Path) -> Path:
    """Move ``source`` to ``target`` atomically (same file system: a rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, staging)
        os.replace(staging, target)
    finally:
        if os.path.exists(staging):
            os.unlink(staging)
    return target


def model_directory(
    repository: Path, name: str, model_file: Path, config: dict[str, Any], *, filename: str
) -> Path:
    """Add ``model_file`` as the next version of ``repository/name``.

    A new directory gets ``config``; an existing one keeps its own config.yaml, which
    must name the same backend (a new version of an ONNX model is ONNX).
    """
    check_model_name(name)
    directory = repository / name
    config_path = directory / "config.yaml"
    if config_path.is_file():
        existing = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
        backend = existing.get("backend", "onnxruntime")
        if backend != config.get("backend", "onnxruntime"):
            raise ConfigError(
                f"{config_path}: the model is served with backend {backend!r}, but the new "
                f"file is for {config.get('backend')!r}; choose another --name"
            )
    if not config_path.is_file():
        # The config first: a server polling the repository then never sees a version
        # without the config that says how to serve it.
        directory.mkdir(parents=True, exist_ok=True)
        fd, staging = tempfile.mkstemp(prefix=".config-", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yaml.safe_dump(config, handle, sort_keys=False)
        os.replace(staging, config_path)
    version = next_version(directory)
    return install_file(model_file, directory / str(version) / filename)
