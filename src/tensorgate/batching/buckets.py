"""Batches padded up to a few sizes, for runtimes that set up once per input shape.

onnxruntime's CUDA provider (cuDNN underneath) prepares its convolutions for the shape
it is given: on an H200, 0.1–1 s for EfficientNet-Lite0 in FP32 and 3–6 s in FP16, then
3–8 ms a batch (bench/gpu_probe.py, docs/benchmarks.md "GPU"). Dynamic batching meets
every size from 1 to ``max_batch_size``. Padding each batch with rows of zeros up to
the next of a few sizes (powers of two up to the largest batch) caps the shapes the
runtime ever sees at those few; the engine runs each of them once at load (``sizes``),
so that set-up is paid before the model is ready, not by requests. The padded rows cost
compute, which on a GPU is cheap next to the set-up (a batch of 64 takes ~1.6× a batch
of 32 for Lite0), and are cut from the outputs before the batch is split. The batcher
stacks a host batch at its bucket size (``padded_rows``; ``tensors.stack(items, rows)``),
so the padding costs no second copy of the batch; a batch that comes padded already
runs as it is.

One session does not remember a shape it has left: with onnxruntime 1.31 and cuDNN 9 a
session pays the set-up again at **every change** of shape (b64 → b8 → b64: 0.3–1 s each
time in FP32, 3–4 s in FP16; the same shape again: 8 ms), whatever the algorithm search
(onnxruntime issue 23006). So a runtime that says it re-plans on a change of shape
(``replans_on_shape_change``: onnxruntime on its CUDA or TensorRT provider) gets one
session per bucket size (``per_size``), each of which only ever sees its own shape.
CPU runtimes set up per shape in microseconds and are not padded by default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from tensorgate.batching.tensors import stack
from tensorgate.runtimes.base import DeviceRuntime, Runtime
from tensorgate.types import Array, DeviceId, Tensors, TensorSpec

if TYPE_CHECKING:
    import torch

__all__ = [
    "PaddedRuntime",
    "bucket_for",
    "buckets",
    "padded",
    "padded_rows",
    "pads",
    "session_per_size",
    "sessions",
]


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


def padded_rows(runtime: Runtime, rows: int) -> int:
    """The rows a batch of ``rows`` runs as on ``runtime``: its bucket size where the
    runtime pads (the batcher stacks the batch at that size, the padding in one copy)."""
    if isinstance(runtime, PaddedRuntime):
        return bucket_for(rows, runtime.sizes)
    return rows


def sessions(runtime: Runtime) -> int:
    """The runtimes (sessions) an instance holds: one per bucket size where it has a
    runtime per size (``per_size`` names all but the largest, which ``inner`` runs)."""
    if isinstance(runtime, PaddedRuntime):
        return 1 + len(runtime.per_size)
    return 1


class PaddedRuntime:
    """``inner`` with every batch padded to a bucket size (and its outputs cut back).

    Args:
        inner: the runtime that sets up per shape; it runs every size that ``per_size``
            does not name (and batches past the largest size).
        sizes: the bucket sizes, ascending (``buckets(max_batch_size)``).
        per_size: a runtime of the same model for each of these sizes, which runs only
            batches of its size (the padded runtime owns and closes them).
    """

    def __init__(
        self, inner: Runtime, sizes: tuple[int, ...], per_size: Mapping[int, Runtime] | None = None
    ) -> None:
        self.inner = inner
        self.sizes = sizes
        self.per_size = dict(per_size or {})

    def runtime_for(self, rows: int) -> Runtime:
        """The runtime that runs a padded batch of ``rows``."""
        return self.per_size.get(rows, self.inner)

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
        return self._padded(inputs, lambda r, fed: r.infer(fed), _zeros_after)

    def _padded(
        self,
        inputs: Mapping[str, _T],
        run: Callable[[Runtime, Mapping[str, _T]], Tensors],
        pad: Callable[[_T, int], _T],
    ) -> Tensors:
        """``run`` on ``inputs`` with ``pad`` rows of zeros up to the bucket size, by
        that size's runtime; the outputs cut back to the rows asked for."""
        rows = int(next(iter(inputs.values())).shape[0])
        target = bucket_for(rows, self.sizes)
        runtime = self.runtime_for(target)
        if target == rows:
            return run(runtime, inputs)
        fed = {name: pad(tensor, target - rows) for name, tensor in inputs.items()}
        return {name: array[:rows] for name, array in run(runtime, fed).items()}

    def close(self) -> None:
        for runtime in (self.inner, *self.per_size.values()):
            runtime.close()


class _PaddedDeviceRuntime(PaddedRuntime):
    """A ``PaddedRuntime`` whose runtimes also take device tensors."""

    def infer_device(self, inputs: Mapping[str, torch.Tensor]) -> Tensors:
        def run(runtime: Runtime, fed: Mapping[str, torch.Tensor]) -> Tensors:
            assert isinstance(runtime, DeviceRuntime)
            return runtime.infer_device(fed)

        return self._padded(inputs, run, _device_zeros_after)


def _zeros_after(array: Array, rows: int) -> Array:
    return stack([{"": array}], len(array) + rows)[""]  # one copy, the zeros after


def _device_zeros_after(tensor: torch.Tensor, rows: int) -> torch.Tensor:
    import torch

    return torch.cat([tensor, tensor.new_zeros((rows, *tensor.shape[1:]))])


def padded(
    inner: Runtime, max_batch_size: int, make: Callable[[], Runtime] | None = None
) -> PaddedRuntime:
    """``inner`` padded to ``buckets(max_batch_size)``, keeping its device inputs; with
    ``make`` (a factory of more runtimes like ``inner``), one runtime per size: ``inner``
    runs the largest, ``make()`` each of the others. What ``make`` made is closed if a
    later ``make`` fails."""
    sizes = buckets(max_batch_size)
    per_size: dict[int, Runtime] = {}
    if make is not None:
        try:
            for size in sizes[:-1]:
                per_size[size] = make()
        except BaseException:
            for runtime in per_size.values():
                runtime.close()
            raise
    if isinstance(inner, DeviceRuntime):
        return _PaddedDeviceRuntime(inner, sizes, per_size)
    return PaddedRuntime(inner, sizes, per_size)


def session_per_size(setting: str, runtime: Runtime) -> bool:
    """Whether a padded model gets a runtime per bucket size: ``setting`` is ``auto``
    (runtimes that say they set up again at every change of shape), ``always`` or
    ``never``."""
    if setting == "auto":
        return bool(getattr(runtime, "replans_on_shape_change", False))
    return setting == "always"


def pads(setting: str, device: DeviceId, max_batch_size: int) -> bool:
    """Whether a model's batches are padded: ``setting`` is ``gpu`` (on ``cuda:N``),
    ``always`` or ``never``; a model that never batches more than one row is not."""
    if max_batch_size <= 1 or setting == "never":
        return False
    return setting == "always" or device != "cpu"
