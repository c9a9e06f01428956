"""Find the PyTorch model a user names: a module factory (with a checkpoint), a
TorchScript archive, or a ``torch.export`` archive. Imports torch (the ``zoo`` extra).

Checkpoints are read with ``torch.load(weights_only=True)``: tensors and plain
containers only, never arbitrary pickled objects.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import torch

from tensorgate.errors import ConversionError
from tensorgate.runtimes.pytorch import load_torchscript

__all__ = ["load_checkpoint", "load_module"]

_STATE_KEYS = ("state_dict", "model_state_dict", "model", "net", "weights")


def _factory(spec: str) -> Any:
    """``package.module:attr`` or ``path/to/file.py:attr``."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise ConversionError(
            f"source {spec!r} is neither a model file nor MODULE:FACTORY; give e.g. "
            "'mypackage.models:build' or 'net.py:Net'"
        )
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise ConversionError(f"source {spec!r}: {target} does not exist")
        loader = importlib.util.spec_from_file_location(path.stem, path)
        if loader is None or loader.loader is None:
            raise ConversionError(f"source {spec!r}: {target} cannot be imported")
        module = importlib.util.module_from_spec(loader)
        sys.modules.setdefault(path.stem, module)
        loader.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise ConversionError(f"source {spec!r}: cannot import {target!r}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConversionError(f"source {spec!r}: {target} has no {attr!r}") from None


def load_checkpoint(path: Path) -> Mapping[str, torch.Tensor]:
    """A state dict from a checkpoint file (tensors only; common wrappers unwrapped)."""
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ConversionError(f"checkpoint {path} does not exist") from None
    except Exception as exc:  # torch's unpickler raises many kinds
        raise ConversionError(
            f"checkpoint {path} cannot be read as tensors (weights_only=True): {exc}; save "
            "it with torch.save(model.state_dict(), path)"
        ) from None
    if isinstance(data, Mapping):
        for key in _STATE_KEYS:
            inner = data.get(key)
            if isinstance(inner, Mapping) and inner:
                data = inner
                break
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ConversionError(
            f"checkpoint {path} holds no state dict (a mapping of names to tensors); save "
            "it with torch.save(model.state_dict(), path)"
        )
    prefix = "module."  # saved from DataParallel / DistributedDataParallel
    if data and all(str(k).startswith(prefix) for k in data):
        data = {str(k)[len(prefix) :]: v for k, v in data.items()}
    return cast("Mapping[str, torch.Tensor]", data)


def load_module(source: str, checkpoint: Path | None = None) -> torch.nn.Module:
    """The eval-mode module that ``source`` names.

    ``source`` is a ``.pt2`` archive, a TorchScript archive (``.pt``/``.ts``/``.jit``),
    or ``MODULE:FACTORY`` where FACTORY() returns an ``nn.Module`` (a class works); then
    ``checkpoint``, if given, is loaded into it strictly.
    """
    path = Path(source)
    if path.suffix in (".pt2", ".pt", ".ts", ".jit", ".pth", ".ckpt") or path.is_file():
        if checkpoint is not None:
            raise ConversionError(
                f"--checkpoint goes with a MODULE:FACTORY source, not with the file {source}"
            )
        if not path.is_file():
            raise ConversionError(f"source {source} does not exist")
        if path.suffix == ".pt2":
            try:
                module: torch.nn.Module = torch.export.load(str(path)).module()
            except Exception as exc:
                raise ConversionError(f"{source}: not a torch.export archive: {exc}") from None
            return module
        try:
            return load_torchscript(path, torch.device("cpu"))
        except Exception as exc:
            raise ConversionError(
                f"{source} is not a TorchScript archive ({exc}); if it is a checkpoint, "
                "give the code that builds the model: tensorgate convert MODULE:FACTORY "
                f"--checkpoint {source}"
            ) from None
    factory = _factory(source)
    try:
        built = factory()
    except Exception as exc:
        raise ConversionError(f"source {source!r}: calling it failed: {exc}") from None
    if not isinstance(built, torch.nn.Module):
        raise ConversionError(
            f"source {source!r} returned {type(built).__name__}, not a torch.nn.Module"
        )
    if checkpoint is not None:
        state = load_checkpoint(checkpoint)
        try:
            result = built.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # shapes that do not match
            raise ConversionError(
                f"checkpoint {checkpoint} does not fit {source!r}: {exc}"
            ) from None
        if result.missing_keys or result.unexpected_keys:
            missing = ", ".join(result.missing_keys[:3]) or "none"
            extra = ", ".join(result.unexpected_keys[:3]) or "none"
            raise ConversionError(
                f"checkpoint {checkpoint} does not fit {source!r}: "
                f"{len(result.missing_keys)} missing (e.g. {missing}), "
                f"{len(result.unexpected_keys)} unexpected (e.g. {extra})"
            )
    return built.eval()
