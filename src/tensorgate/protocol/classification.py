"""Triton's classification extension: an output asked for with
``"parameters": {"classification": k}`` comes back as a BYTES tensor ``[N, k]`` of
``"score:index:label"`` strings, best first (pure)."""

from __future__ import annotations

import numpy as np

from tensorgate.errors import InvalidInputError
from tensorgate.imaging.spec import PostprocessSpec
from tensorgate.postprocess import top_k
from tensorgate.types import Array

__all__ = ["classification_tensor", "with_classification"]


def classification_tensor(name: str, scores: Array, k: int, spec: PostprocessSpec) -> Array:
    """``scores`` (rows first, one row of class scores per item) → ``[rows, k]`` BYTES of
    ``score:index:label`` (softmax applied when the model's config says so; the label is
    empty when the model has no labels, as in Triton).

    Raises:
        InvalidInputError: the output is not ``[rows, classes]``.
    """
    if scores.ndim != 2 or scores.dtype == object:
        raise InvalidInputError(
            f"output {name!r} is {scores.dtype} {list(scores.shape)}; the classification "
            "extension needs [rows, classes] of numbers"
        )
    rows = top_k(scores, spec, min(k, scores.shape[1]))
    text = [
        [f"{c.score:f}:{c.index}:{c.label if spec.labels else ''}".encode() for c in row]
        for row in rows
    ]
    out = np.empty((len(text), len(text[0]) if text else 0), dtype=object)
    for i, row in enumerate(text):
        out[i, :] = row
    return out


def with_classification(
    outputs: dict[str, Array], wanted: dict[str, int], spec: PostprocessSpec | None
) -> dict[str, Array]:
    """``outputs`` with each output named in ``wanted`` replaced by its classification
    tensor (``spec``: the model's postprocess, or None for raw scores and no labels)."""
    if not wanted:
        return outputs
    rule = spec or PostprocessSpec(softmax=False)
    return {
        name: classification_tensor(name, array, wanted[name], rule) if name in wanted else array
        for name, array in outputs.items()
    }
