"""One descriptor per runtime backend: the only table that knows them.

The manifest parser (which names are valid, the default model file), the engine (how a
version loads), device discovery (what ``device: auto`` means) and the protocol (the
Triton platform name) all read this table. Adding a backend means adding one entry.

Each loader imports its runtime module only when a model of that backend loads, so
serving ONNX never imports torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tensorgate.errors import ConfigError
from tensorgate.runtimes.base import Runtime, RuntimeFactory, RuntimeOptions
from tensorgate.types import DeviceId

__all__ = ["BACKENDS", "Backend", "backend_named"]


@dataclass(frozen=True, slots=True)
class Backend:
    """What tensorgate knows about one runtime backend.

    Attributes:
        name: the value of ``backend:`` in config.yaml.
        platform: the platform name Triton's clients show for it.
        default_filename: the model file of a version directory unless config.yaml says.
        load: creates one instance: ``load(path, options) -> Runtime``.
        auto_device: the device ``device: auto`` means for this backend here.
    """

    name: str
    platform: str
    default_filename: str
    load: RuntimeFactory
    auto_device: Callable[[], DeviceId]


def _load_onnx(path: Path, options: RuntimeOptions) -> Runtime:
    from tensorgate.runtimes.onnx import load_onnx

    return load_onnx(path, options)


def _onnx_device() -> DeviceId:
    from tensorgate.runtimes.onnx import auto_device

    return auto_device()


def _load_torch(path: Path, options: RuntimeOptions) -> Runtime:
    from tensorgate.runtimes.pytorch import load_torch

    return load_torch(path, options)


def _torch_device() -> DeviceId:
    from tensorgate.runtimes.pytorch import auto_device

    return auto_device()


def _load_fake(path: Path, options: RuntimeOptions) -> Runtime:
    from tensorgate.runtimes.fake import load_fake

    return load_fake(path, options)


def _cpu() -> DeviceId:
    return "cpu"


#: Every backend by its config.yaml name, in the order the docs list them.
BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend("onnxruntime", "onnxruntime_onnx", "model.onnx", _load_onnx, _onnx_device),
        Backend("pytorch", "pytorch_libtorch", "model.pt", _load_torch, _torch_device),
        Backend("fake", "fake", "model.fake", _load_fake, _cpu),
    )
}


def backend_named(name: str) -> Backend:
    """The descriptor of ``name``.

    Raises:
        ConfigError: no backend has that name.
    """
    try:
        return BACKENDS[name]
    except KeyError:
        raise ConfigError(
            f"backend {name!r} is not known; backends: {', '.join(BACKENDS)}"
        ) from None
