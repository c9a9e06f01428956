"""A deterministic runtime that ships in the package, for tests of every layer above.

By default each output row is computed from the first input row so that results can be
checked exactly: ``output[b, j] = sum(first_input[b]) + j`` (as the output's dtype).
A custom function may replace that, e.g. to raise on a given input.

A ``backend: fake`` model file may hold one line of JSON that shapes the runtime, so
tests can tell versions apart and build slow or broken ones from files alone::

    {"offset": 100}          every output value + 100 (say which version answered)
    {"delay_s": 0.2}         each batch takes 0.2 s more (a slow model)
    {"fail": "no weights"}   loading fails with that reason
    {"load_delay_s": 5}      loading takes 5 s more (a slow model to load)

Lines after the first are ignored (tests pad files to give a model a size).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tensorgate.errors import ConfigError
from tensorgate.protocol.datatypes import numpy_dtype
from tensorgate.runtimes.base import RuntimeOptions, Signature
from tensorgate.types import DeviceId, Tensors, TensorSpec

__all__ = ["FakeRuntime", "fake_outputs", "load_fake"]

InferFn = Callable[[Tensors], Tensors]


def fake_outputs(inputs: Tensors, outputs: tuple[TensorSpec, ...]) -> dict[str, np.ndarray]:
    """The default fake computation, exposed so tests can compute expected values."""
    first = next(iter(inputs.values()))
    rows = first.shape[0]
    if first.dtype == object:
        base = np.array([float(sum(len(v) for v in row.reshape(-1))) for row in first])
    else:
        base = first.reshape(rows, -1).astype(np.float64).sum(axis=1)
    result: dict[str, np.ndarray] = {}
    for spec in outputs:
        width = int(np.prod([d if d > 0 else 1 for d in spec.shape])) if spec.shape else 1
        values = base[:, None] + np.arange(width, dtype=np.float64)[None, :]
        shape = (rows, *(d if d > 0 else 1 for d in spec.shape))
        dtype = numpy_dtype(spec.datatype)
        if dtype.kind == "O":
            flat = np.array([str(v).encode() for v in values.reshape(-1)], dtype=object)
            result[spec.name] = flat.reshape(shape)
        else:
            result[spec.name] = values.astype(dtype).reshape(shape)
    return result


class FakeRuntime(Signature):
    """A runtime with declared specs and a pure function; counts its calls."""

    def __init__(
        self,
        inputs: tuple[TensorSpec, ...],
        outputs: tuple[TensorSpec, ...],
        fn: InferFn | None = None,
        device: DeviceId = "cpu",
        *,
        offset: float = 0.0,
        delay_s: float = 0.0,
    ) -> None:
        self._offset = offset
        self._delay_s = delay_s
        self._inputs = inputs
        self._outputs = outputs
        self._fn = fn
        self._device = device
        #: Batch sizes seen, in call order (for tests of batching).
        self.calls: list[int] = []
        self.closed = False

    def infer(self, inputs: Tensors) -> Tensors:
        self.calls.append(next(iter(inputs.values())).shape[0])
        if self._delay_s:
            time.sleep(self._delay_s)  # stands for compute time; runs on the instance thread
        if self._fn is not None:
            return self._fn(inputs)
        outputs = fake_outputs(inputs, self._outputs)
        if self._offset:
            return {
                k: v if v.dtype == object else (v + self._offset).astype(v.dtype)
                for k, v in outputs.items()
            }
        return outputs

    def close(self) -> None:
        self.closed = True


def load_fake(path: Path, options: RuntimeOptions) -> FakeRuntime:
    """Factory for ``backend: fake`` models: specs must be declared in config.yaml."""
    if not options.inputs or not options.outputs:
        raise ConfigError(
            f"{path}: a fake-backend model needs 'inputs' and 'outputs' in its config.yaml"
        )
    with open(path, "rb") as handle:
        first = handle.readline().strip()
    try:
        shape = json.loads(first) if first else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: the first line is not JSON: {exc}") from None
    if not isinstance(shape, dict):
        raise ConfigError(f"{path}: the first line must be a JSON object, got {first[:40]!r}")
    if "fail" in shape:
        raise ConfigError(f"{path}: {shape['fail']}")
    if shape.get("load_delay_s"):
        time.sleep(float(shape["load_delay_s"]))  # stands for reading large weights
    return FakeRuntime(
        options.inputs,
        options.outputs,
        device=options.device,
        offset=float(shape.get("offset", 0.0)),
        delay_s=float(shape.get("delay_s", 0.0)),
    )
