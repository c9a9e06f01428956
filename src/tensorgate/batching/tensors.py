"""Stack requests into one batch and split the outputs back: pure array code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tensorgate.errors import InferenceError
from tensorgate.types import Array, Tensors

__all__ = ["ShapeKey", "Stacked", "shape_key", "split", "stack"]

#: Input names, row shapes (without the batch axis) and dtypes (``numpy.dtype.str``).
ShapeKey = tuple[tuple[str, tuple[int, ...], str], ...]


def shape_key(tensors: Tensors) -> ShapeKey:
    """What must match for two requests to share a batch: names, row shapes, dtypes."""
    return tuple(
        (name, tuple(array.shape[1:]), array.dtype.str) for name, array in sorted(tensors.items())
    )


def stack(items: Sequence[Tensors], rows: int = 0) -> Tensors:
    """Concatenate requests along the batch axis (one request passes through as is).

    With ``rows`` past the requests' own, each input is one array of ``rows`` rows whose
    last ones are zeros: a batch padded to its bucket size (batching/buckets.py) in one
    copy, instead of a stack and then a padded copy of it.
    """
    total = sum(int(next(iter(item.values())).shape[0]) for item in items)
    if rows <= total:
        if len(items) == 1:
            return items[0]
        return {name: np.concatenate([item[name] for item in items]) for name in items[0]}
    padded: dict[str, Array] = {}
    for name, first in items[0].items():
        array = np.empty((rows, *first.shape[1:]), first.dtype)
        np.concatenate([item[name] for item in items], out=array[:total])
        array[total:] = 0
        padded[name] = array
    return padded


@dataclass(frozen=True, slots=True)
class Stacked:
    """A host batch stacked before its run (on a GPU, ahead of the device's gate).

    Attributes:
        tensors: the batch, padded to its bucket size where the runtime pads.
        total: the requests' own rows (the rest are padding).
    """

    tensors: Tensors
    total: int


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
