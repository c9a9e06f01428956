"""The runtime protocol every backend implements, and how one is created."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from tensorgate.types import DeviceId, Tensors, TensorSpec

if TYPE_CHECKING:
    import torch

__all__ = ["DeviceRuntime", "Runtime", "RuntimeFactory", "RuntimeOptions", "Signature"]


@dataclass(frozen=True, slots=True)
class RuntimeOptions:
    """What a runtime is asked for when it is created.

    Attributes:
        device: the device slot the instance runs on (``cpu``, ``cuda:0``, …).
        threads: intra-op threads (one by default: instances scale better than threads).
        inputs: declared input specs from config.yaml (empty: use the model's own).
        outputs: declared output specs (empty: use the model's own).
        max_batch_size: the most rows one batch holds (0: not known).
    """

    device: DeviceId = "cpu"
    threads: int = 1
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    max_batch_size: int = 0


@runtime_checkable
class Runtime(Protocol):
    """One loaded instance of a model on one device.

    ``infer`` is called from a worker thread, one batch at a time per instance; inputs
    and outputs carry the batch axis first.
    """

    @property
    def inputs(self) -> tuple[TensorSpec, ...]: ...

    @property
    def outputs(self) -> tuple[TensorSpec, ...]: ...

    @property
    def device(self) -> DeviceId: ...

    def infer(self, inputs: Tensors) -> Tensors: ...

    def close(self) -> None: ...


@runtime_checkable
class DeviceRuntime(Protocol):
    """A runtime that also takes inputs already in its device's memory (torch tensors
    on its ``cuda:N``, or on the CPU for a ``cpu`` runtime): the batch made on the GPU is
    bound to the model where it lies, with no trip through host memory. Outputs come
    back to host memory, as ``infer``'s do."""

    def infer_device(self, inputs: Mapping[str, torch.Tensor]) -> Tensors: ...


class Signature:
    """The read-only half of ``Runtime`` that every backend shares: a concrete runtime
    sets ``_inputs``, ``_outputs`` and ``_device`` when it loads."""

    _inputs: tuple[TensorSpec, ...]
    _outputs: tuple[TensorSpec, ...]
    _device: DeviceId
    _metadata: dict[str, str] = {}  # noqa: RUF012 (replaced per instance, never mutated)

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self._outputs

    @property
    def device(self) -> DeviceId:
        return self._device

    @property
    def metadata(self) -> dict[str, str]:
        """The model file's own key/value metadata (ONNX ``metadata_props``), if any."""
        return dict(self._metadata)


class RuntimeFactory(Protocol):
    """Creates a runtime for a model file: ``factory(path, options) -> Runtime``."""

    def __call__(self, path: Path, options: RuntimeOptions) -> Runtime: ...
