"""Stack requests into one batch and split the outputs back: pure array code."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tensorgate.errors import InferenceError
from tensorgate.types import Array, Tensors

__all__ = ["ShapeKey", "shape_key", "split", "stack"]

#: Input names, row shapes (without the batch axis) and dtypes (``numpy.dtype.str``).
ShapeKey = tuple[tuple[str, tuple[int, ...], str], ...]


def shape_key(tensors: Tensors) -> ShapeKey:
    """What must match for two requests to share a batch: names, row shapes, dtypes."""
    return tuple(
        (name, tuple(array.shape[1:]), array.dtype.str) for name, array in sorted(tensors.items())
    )


def stack(items: Sequence[Tensors]) -> Tensors:
    """Concatenate requests along the batch axis (one request passes through as is)."""
    if len(items) == 1:
        return items[0]
    return {name: np.concatenate([item[name] for item in items]) for name in items[0]}


def split(outputs: Tensors, rows: Sequence[int]) -> list[dict[str, Array]]:
    """Cut each output back into per-request pieces.

    Raises:
        InferenceError: an output does not have one row per input row.
    """
    total = sum(rows)
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != total:
            got = "a scalar" if array.ndim == 0 else f"{array.shape[0]} rows"
            raise InferenceError(
                f"the model returned {got} for output {name!r} but the batch has {total} rows; "
                "a batched model must return one output row per input row"
            )
    parts: list[dict[str, Array]] = []
    start = 0
    for count in rows:
        parts.append({name: array[start : start + count] for name, array in outputs.items()})
        start += count
    return parts
