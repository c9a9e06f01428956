"""Classifier outputs to labelled scores: softmax and top-k, pure numpy."""

from __future__ import annotations

import numpy as np

from tensorgate.imaging.spec import PostprocessSpec
from tensorgate.types import Array, Classification

__all__ = ["Classification", "top_k"]


def top_k(scores: Array, spec: PostprocessSpec, k: int) -> list[list[Classification]]:
    """The ``k`` best classes of each row of ``scores`` (rows × classes), best first."""
    rows = scores.reshape(scores.shape[0], -1).astype(np.float64)
    if spec.softmax:
        rows = np.exp(rows - rows.max(axis=1, keepdims=True))
        rows /= rows.sum(axis=1, keepdims=True)
    k = min(k, rows.shape[1])
    best = np.argpartition(-rows, k - 1, axis=1)[:, :k]
    answers: list[list[Classification]] = []
    for row, candidates in zip(rows, best, strict=True):
        ordered = candidates[np.argsort(-row[candidates], kind="stable")]
        answers.append(
            [
                Classification(
                    int(i),
                    spec.labels[i] if i < len(spec.labels) else str(int(i)),
                    float(row[i]),
                )
                for i in ordered
            ]
        )
    return answers
