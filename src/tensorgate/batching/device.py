"""A batch made on the model's device: decode, preprocess, stack and bind, all there.

A request queued as a ``Deferred`` may name ``DeviceInputs``: something that makes many
requests' inputs at once on the model's device (a GPU image preprocessor: one batched
nvJPEG decode, one batched resize) and the model input they feed. When every request of
a batch names the same ``DeviceInputs`` and the instance's runtime takes device tensors
(``runtimes.base.DeviceRuntime``), the instance thread makes them all in one call,
stacks them on the device and runs the model on them where they lie: pixels never
return to host memory between decode and inference. Otherwise (a batch mixing in other
requests, a runtime without device inputs) each request is made alone on the host
path, ``Deferred.make``, as before. On a GPU the batch is made before it takes the
device's gate and run once it holds it (``make_on_device``, then ``infer_on_device``;
batching/batcher.py), so one instance's decode overlaps another's inference.

As on the host path, an image that cannot be made fails only its own request, and the
failure is kept so that a batch retried one request at a time does not make it twice.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tensorgate.batching.deferred import Deferred, DeviceInputs, Part, detached
from tensorgate.batching.phases import Ran
from tensorgate.batching.tensors import split
from tensorgate.errors import TensorgateError
from tensorgate.runtimes.base import DeviceRuntime, Runtime
from tensorgate.types import Tensors

if TYPE_CHECKING:
    import torch

__all__ = ["DeviceBatch", "device_inputs_of", "infer_on_device", "make_on_device"]


def device_inputs_of(runtime: Runtime, inputs: Sequence[Tensors | Deferred]) -> DeviceInputs | None:
    """The ``DeviceInputs`` every request of the batch names, when there is one and
    the runtime takes device tensors; None sends the batch down the host path."""
    if not inputs or not isinstance(runtime, DeviceRuntime):
        return None
    first = inputs[0]
    if not isinstance(first, Deferred) or first.device is None:
        return None
    shared = first.device
    if all(isinstance(item, Deferred) and item.device == shared for item in inputs):
        return shared
    return None


@dataclass(slots=True)
class DeviceBatch:
    """A batch's inputs made on the device, before the model runs (``make_on_device``).

    Attributes:
        inputs: the model's input on the device, the made rows stacked (None: none made).
        where: the indices, among the batch's items, of the requests that made it.
        rows: their rows, in that order.
        making: seconds spent making the batch.
    """

    inputs: dict[str, torch.Tensor] | None
    where: list[int]
    rows: list[int]
    making: float


def make_on_device(device: DeviceInputs, items: Sequence[Deferred]) -> DeviceBatch:
    """Make the batch's inputs on the device: every payload in one call.

    Each request's ``started``/``ended`` cover its share of the batch's making (the
    batch's time over its rows), its ``extra`` the list of what the maker gave beside
    each of its tensors; a request with a payload that cannot be made gets that
    payload's error in ``error`` (as it would on the host path), and a request that
    failed before (a batch retried alone) keeps its error.
    """
    import torch

    todo = [i for i, item in enumerate(items) if item.error is None]
    payloads = [payload for i in todo for payload in items[i].payloads]
    started = time.monotonic()
    made = device.maker.prepare_many(payloads) if payloads else []
    tensors: list[torch.Tensor] = []
    where: list[int] = []
    rows: list[int] = []
    position = 0
    share = (time.monotonic() - started) / max(1, len(payloads))
    for index in todo:
        item = items[index]
        count = len(item.payloads)
        results = made[position : position + count]
        item.started = started + position * share
        item.ended = item.started + count * share
        position += count
        failed = next((r for r in results if isinstance(r, TensorgateError)), None)
        if failed is not None:
            item.error = detached(failed)
            continue
        extras = []
        for result in results:
            assert not isinstance(result, TensorgateError)
            tensors.append(result[0])
            extras.append(result[1])
        item.extra = extras
        where.append(index)
        rows.append(count)
    stacked = {device.input_name: torch.stack(tensors)} if tensors else None
    return DeviceBatch(stacked, where, rows, time.monotonic() - started)


def infer_on_device(
    runtime: Runtime,
    device: DeviceInputs,
    items: Sequence[Deferred],
    made: DeviceBatch | None = None,
) -> Ran:
    """Run the model on the batch's inputs made on the device (``made``, or made now by
    ``make_on_device``) and cut the outputs back: each request's part, in order (its
    error, for a request whose input could not be made), the seconds this call spent
    making inputs (none when they were made ahead) and cutting the outputs back (the
    batch was stacked on the device while it was made)."""
    assert isinstance(runtime, DeviceRuntime)
    making = 0.0
    if made is None:
        made = make_on_device(device, items)
        making = made.making
    parts: list[Part | None] = [None] * len(items)
    for index, item in enumerate(items):
        if item.error is not None:
            parts[index] = detached(item.error)
    output_s = 0.0
    if made.inputs is not None:
        outputs = runtime.infer_device(made.inputs)
        cutting = time.perf_counter()
        for index, part in zip(made.where, split(outputs, made.rows), strict=True):
            parts[index] = part
        output_s = time.perf_counter() - cutting
    return Ran([p for p in parts if p is not None], making, 0.0, output_s)
