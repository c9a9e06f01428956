"""Batches padded up to a few sizes, for runtimes that set up once per input shape.

onnxruntime's CUDA provider (cuDNN underneath) prepares its convolutions at the first
batch of each new size: on an H200, 0.25–0.4 s per size for EfficientNet-Lite0 in FP32
and 2–5 s in FP16, then 3–8 ms per batch (bench/gpu_probe.py, docs/benchmarks.md "GPU").
Dynamic batching meets every size from 1 to ``max_batch_size``, so a fresh GPU model
stalls for minutes, a few seconds at a time, before it runs at speed. Padding each batch
with rows of zeros up to the next of a few sizes (powers of two up to the largest batch)
caps the shapes the runtime ever sees at those few; the engine runs each of them once at
load (``sizes``), so the set-up is paid before the model is ready, not by requests.
The padded rows cost compute, which on a GPU is cheap next to the stall (a batch of 64
takes ~1.6× a batch of 32 for Lite0), and are cut from the outputs before the batch is
split. CPU runtimes set up per shape in microseconds and are not padded by default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

from tensorgate.runtimes.base import DeviceRuntime, Runtime
from tensorgate.types import Array, DeviceId, Tensors, TensorSpec

if TYPE_CHECKING:
    import torch

__all__ = ["PaddedRuntime", "bucket_for", "buckets", "padded", "pads"]


class _Rows(Protocol):
    """A batch's tensor as padding reads it: numpy's or torch's."""

    @property
    def shape(self) -> Any: ...


_T = TypeVar("_T", bound=_Rows)


def buckets(max_batch_size: int) -> tuple[int, ...]:
    """The sizes batches are padded to: powers of two below ``max_batch_size``, and it."""
    sizes = []
    size = 1
    while size < max_batch_size:
        sizes.append(size)
        size *= 2
    sizes.append(max_batch_size)
    return tuple(sizes)


def bucket_for(rows: int, sizes: tuple[int, ...]) -> int:
    """The smallest size that holds ``rows`` (``rows`` itself past the largest)."""
    return next((size for size in sizes if size >= rows), rows)


class PaddedRuntime:
    """``inner`` with every batch padded to a bucket size (and its outputs cut back).

    Args:
        inner: the runtime that sets up per shape.
        sizes: the bucket sizes, ascending (``buckets(max_batch_size)``).
    """

    def __init__(self, inner: Runtime, sizes: tuple[int, ...]) -> None:
        self.inner = inner
        self.sizes = sizes

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self.inner.inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self.inner.outputs

    @property
    def device(self) -> DeviceId:
        return self.inner.device

    def __getattr__(self, name: str) -> Any:  # providers, metadata, …: the inner's
        return getattr(self.inner, name)

    def infer(self, inputs: Tensors) -> Tensors:
        return self._padded(inputs, self.inner.infer, _zeros_after)

    def _padded(
        self,
        inputs: Mapping[str, _T],
        run: Callable[[Mapping[str, _T]], Tensors],
        pad: Callable[[_T, int], _T],
    ) -> Tensors:
        """``run`` on ``inputs`` with ``pad`` rows of zeros up to the bucket size; the
        outputs cut back to the rows asked for."""
        rows = int(next(iter(inputs.values())).shape[0])
        target = bucket_for(rows, self.sizes)
        if target == rows:
            return run(inputs)
        fed = {name: pad(tensor, target - rows) for name, tensor in inputs.items()}
        return {name: array[:rows] for name, array in run(fed).items()}

    def close(self) -> None:
        self.inner.close()


class _PaddedDeviceRuntime(PaddedRuntime):
    """A ``PaddedRuntime`` whose inner runtime also takes device tensors."""

    def infer_device(self, inputs: Mapping[str, torch.Tensor]) -> Tensors:
        assert isinstance(self.inner, DeviceRuntime)
        return self._padded(inputs, self.inner.infer_device, _device_zeros_after)


def _zeros_after(array: Array, rows: int) -> Array:
    return np.concatenate([array, np.zeros((rows, *array.shape[1:]), array.dtype)])


def _device_zeros_after(tensor: torch.Tensor, rows: int) -> torch.Tensor:
    import torch

    return torch.cat([tensor, tensor.new_zeros((rows, *tensor.shape[1:]))])


def padded(inner: Runtime, max_batch_size: int) -> PaddedRuntime:
    """``inner`` padded to ``buckets(max_batch_size)``, keeping its device inputs."""
    sizes = buckets(max_batch_size)
    if isinstance(inner, DeviceRuntime):
        return _PaddedDeviceRuntime(inner, sizes)
    return PaddedRuntime(inner, sizes)


def pads(setting: str, device: DeviceId, max_batch_size: int) -> bool:
    """Whether a model's batches are padded: ``setting`` is ``gpu`` (on ``cuda:N``),
    ``always`` or ``never``; a model that never batches more than one row is not."""
    if max_batch_size <= 1 or setting == "never":
        return False
    return setting == "always" or device != "cpu"
