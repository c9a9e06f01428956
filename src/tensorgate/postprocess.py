"""Classifier outputs to labelled scores: softmax and top-k, pure numpy.

Runs once per answered image on the event loop, so its cost is a serial share of every
request (bench.engine_python): a few small-k arg-maxes over all rows at once instead
of a partition per row, softmax values computed for the k picked classes only (their
order is the logits' order), the answer built from Python lists.
"""

from __future__ import annotations

import math

import numpy as np

from tensorgate.imaging.spec import PostprocessSpec
from tensorgate.types import Array, Classification

__all__ = ["Classification", "top_k"]

#: Up to this k, the best classes are found by k arg-maxes (one pass each over every
#: row at once); past it by a partition and a sort per row.
_BY_ARGMAX = 16


def _best(rows: Array, k: int) -> tuple[list[list[int]], list[list[float]]]:
    """Per row, the indices of its ``k`` largest values, largest first, and those values;
    equal values in index order, NaN counting as largest (as ``argmax`` has it)."""
    count = rows.shape[0]
    if k <= _BY_ARGMAX:
        work = rows.astype(np.float64)  # a copy to mask the picked classes in
        if count == 1:  # one image: scalar steps are cheaper than fancy indexing
            flat = work[0]
            indices: list[int] = []
            values: list[float] = []
            for _ in range(k):
                index = int(flat.argmax())
                indices.append(index)
                values.append(float(flat[index]))
                flat[index] = -np.inf
            best, picked = [indices], [values]
        else:
            every = np.arange(count)
            columns = np.empty((count, k), dtype=np.intp)
            found = np.empty((count, k), dtype=np.float64)
            for j in range(k):
                columns[:, j] = chosen = work.argmax(axis=1)
                found[:, j] = work[every, chosen]
                work[every, chosen] = -np.inf
            best, picked = columns.tolist(), found.tolist()
        # Once -inf is the largest left, a masked class may be picked again: sort instead.
        if not any(v == -math.inf for row in picked for v in row):
            return best, picked
    candidates = np.sort(np.argpartition(-rows, k - 1, axis=1)[:, :k], axis=1)  # ties: index
    order = np.argsort(-np.take_along_axis(rows, candidates, axis=1), axis=1, kind="stable")
    columns = np.take_along_axis(candidates, order, axis=1)
    found = np.take_along_axis(rows, columns, axis=1).astype(np.float64)
    return columns.tolist(), found.tolist()


def top_k(scores: Array, spec: PostprocessSpec, k: int) -> list[list[Classification]]:
    """The ``k`` best classes of each row of ``scores`` (rows × classes), best first."""
    rows = scores.reshape(scores.shape[0], math.prod(scores.shape[1:]))
    k = min(k, rows.shape[1])
    if rows.shape[0] == 0 or k <= 0:
        return [[] for _ in range(rows.shape[0])]
    best, picked = _best(rows, k)
    if spec.softmax:  # softmax keeps the order: only the picked need their value
        # The denominator's exponentials in the model's precision (float64's exp is
        # ~9x slower here), summed in float64; the picked classes' in Python floats.
        narrow = rows if rows.dtype == np.float64 else rows.astype(np.float32, copy=False)
        top = narrow.max(axis=1)
        totals = np.exp(narrow - top[:, np.newaxis]).sum(axis=1, dtype=np.float64).tolist()
        picked = [
            [math.exp(value - high) / total for value in values]
            for values, high, total in zip(picked, top.tolist(), totals, strict=True)
        ]
    labels = spec.labels
    known = len(labels)
    return [
        [
            Classification(i, labels[i] if i < known else str(i), score)
            for i, score in zip(indices, values, strict=True)
        ]
        for indices, values in zip(best, picked, strict=True)
    ]
