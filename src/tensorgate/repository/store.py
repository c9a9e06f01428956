"""Scan a Triton-like model repository on disk.

Layout::

    <repository>/<model>/config.yaml
    <repository>/<model>/<version>/model.onnx     (version: 1, 2, …)

A model whose directory or config is invalid does not stop the others: it is reported as
a ``BrokenModel`` with the reason, and served as UNAVAILABLE.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tensorgate.errors import ConfigError
from tensorgate.protocol.numbers import is_decimal
from tensorgate.repository.manifest import ModelConfig, check_model_name, load_config
from tensorgate.repository.pipelines import PipelineConfig, is_pipeline, load_pipeline

__all__ = [
    "BrokenModel",
    "ModelEntry",
    "resolve_inside",
    "scan_model",
    "scan_pipelines",
    "scan_repository",
]


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """A model found in the repository: its config and the version files to serve."""

    name: str
    directory: Path
    config: ModelConfig
    versions: dict[int, Path]


@dataclass(frozen=True, slots=True)
class BrokenModel:
    """A directory that looks like a model but cannot be served, and why."""

    name: str
    directory: Path
    reason: str


def resolve_inside(root: Path, path: Path) -> Path:
    """Resolve ``path`` and check it stays inside ``root`` (symlinks included)."""
    resolved = path.resolve()
    base = root.resolve()
    if resolved != base and base not in resolved.parents:
        raise ConfigError(f"{path}: resolves to {resolved}, outside the repository {base}")
    return resolved


def _refuse_symlink(path: Path) -> None:
    # A symlink could point anywhere later, whatever it points at now: refuse them all.
    if path.is_symlink():
        raise ConfigError(
            f"{path} is a symlink; tensorgate serves only real files and directories inside "
            "the repository — copy the model in instead"
        )


def scan_model(root: Path, directory: Path) -> ModelEntry:
    """Read one model directory: its config and the version files its policy selects."""
    name = check_model_name(directory.name, f"{directory}: model directory name")
    _refuse_symlink(directory)
    resolve_inside(root, directory)
    _refuse_symlink(directory / "config.yaml")
    config = load_config(directory)
    on_disk: dict[int, Path] = {}
    for child in directory.iterdir():
        if not is_decimal(child.name) or child.name.startswith("0"):
            continue
        _refuse_symlink(child)
        if not child.is_dir():
            continue
        model_file = child / config.default_model_filename
        _refuse_symlink(model_file)
        if model_file.is_file():
            on_disk[int(child.name)] = resolve_inside(root, model_file)
    if not on_disk:
        raise ConfigError(
            f"{directory}: no version directory holds {config.default_model_filename}; "
            f"put the model at {directory}/1/{config.default_model_filename}"
        )
    chosen = config.version_policy.select(list(on_disk))
    if not chosen:
        raise ConfigError(
            f"{directory / 'config.yaml'}: field 'version_policy' selects none of the "
            f"versions on disk {sorted(on_disk)}"
        )
    return ModelEntry(name, directory, config, {v: on_disk[v] for v in chosen})


def _directories(root: Path) -> list[Path]:
    if not root.is_dir():
        raise ConfigError(
            f"model repository {str(root)!r} is not a directory; create it or run "
            "'tensorgate zoo pull efficientnet-lite0' to fill the default one"
        )
    return [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")]


def scan_pipelines(root: Path) -> list[PipelineConfig | BrokenModel]:
    """Every pipeline directory under ``root`` (a config.yaml with a ``pipeline`` list),
    sorted by name; whether its steps fit their models is checked when it loads.

    Raises:
        ConfigError: ``root`` itself is missing or not a directory.
    """
    found: list[PipelineConfig | BrokenModel] = []
    for directory in _directories(root):
        if directory.is_symlink() or not is_pipeline(directory):
            continue
        try:
            found.append(load_pipeline(directory))
        except ConfigError as exc:
            found.append(BrokenModel(directory.name, directory, exc.message))
    return found


def scan_repository(root: Path) -> list[ModelEntry | BrokenModel]:
    """Every model directory under ``root``, sorted by name (pipelines aside).

    Raises:
        ConfigError: ``root`` itself is missing or not a directory.
    """
    found: list[ModelEntry | BrokenModel] = []
    for directory in _directories(root):
        if not directory.is_symlink() and is_pipeline(directory):
            continue
        try:
            found.append(scan_model(root, directory))
        except ConfigError as exc:
            found.append(BrokenModel(directory.name, directory, exc.message))
    return found
