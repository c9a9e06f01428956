"""Batches padded up to a few sizes, for runtimes that set up once per input shape.

onnxruntime's CUDA provider (cuDNN underneath) prepares its convolutions at the first
batch of each new size: on an H200, 0.25–0.4 s per size for EfficientNet-Lite0 in FP32
and 2–5 s in FP16, then 3–8 ms per batch (bench/gpu_probe.py, docs/benchmarks.md "GPU").
Dynamic batching meets every size from 1 to ``max_batch_size``, so a fresh GPU model
stalls for minutes, a few seconds at a time, before it runs at speed. Padding each batch
with rows of zeros up to the next of a few sizes (powers of two up to the largest batch)
caps the shapes the runtime ever sees at those few; the engine runs each of them once at
load (``warm_up``), so the set-up is paid before the model is ready, not by requests.
The padded rows cost compute, which on a GPU is cheap next to the stall (a batch of 64
takes ~1.6× a batch of 32 for Lite0), and are cut from the outputs before the batch is
split. CPU runtimes set up per shape in microseconds and are not padded by default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from tensorgate.runtimes.base import DeviceRuntime, Runtime
from tensorgate.types import Array, DeviceId, Tensors, TensorSpec

if TYPE_CHECKING:
    import torch

__all__ = ["PaddedRuntime", "bucket_for", "buckets", "padded", "pads"]


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


def _cut(outputs: Tensors, rows: int) -> dict[str, Array]:
    return {name: array[:rows] for name, array in outputs.items()}


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
        rows = _rows(inputs)
        target = bucket_for(rows, self.sizes)
        if target == rows:
            return self.inner.infer(inputs)
        fed = {
            name: np.concatenate([array, np.zeros((target - rows, *array.shape[1:]), array.dtype)])
            for name, array in inputs.items()
        }
        return _cut(self.inner.infer(fed), rows)

    def warm_up(self, make: Callable[[int], Tensors]) -> None:
        """Run each bucket size once: ``make(rows)`` gives a batch of that many rows."""
        for size in self.sizes:
            self.inner.infer(make(size))

    def close(self) -> None:
        self.inner.close()


class _PaddedDeviceRuntime(PaddedRuntime):
    """A ``PaddedRuntime`` whose inner runtime also takes device tensors."""

    def infer_device(self, inputs: Mapping[str, torch.Tensor]) -> Tensors:
        import torch

        assert isinstance(self.inner, DeviceRuntime)
        rows = int(next(iter(inputs.values())).shape[0])
        target = bucket_for(rows, self.sizes)
        if target == rows:
            return self.inner.infer_device(inputs)
        fed = {
            name: torch.cat([tensor, tensor.new_zeros((target - rows, *tensor.shape[1:]))])
            for name, tensor in inputs.items()
        }
        return _cut(self.inner.infer_device(fed), rows)


def padded(inner: Runtime, max_batch_size: int) -> PaddedRuntime:
    """``inner`` padded to ``buckets(max_batch_size)``, keeping its device inputs."""
    sizes = buckets(max_batch_size)
    if isinstance(inner, DeviceRuntime):
        return _PaddedDeviceRuntime(inner, sizes)
    return PaddedRuntime(inner, sizes)


def _rows(inputs: Tensors) -> int:
    return int(next(iter(inputs.values())).shape[0])


def pads(setting: str, device: DeviceId, max_batch_size: int) -> bool:
    """Whether a model's batches are padded: ``setting`` is ``gpu`` (on ``cuda:N``),
    ``always`` or ``never``; a model that never batches more than one row is not."""
    if max_batch_size <= 1 or setting == "never":
        return False
    return setting == "always" or device != "cpu"
