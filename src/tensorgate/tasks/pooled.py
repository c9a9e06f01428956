"""The ``pooled`` decoder: a feature map or vector → an L2-normalised embedding."""

from __future__ import annotations

import numpy as np

from tensorgate.errors import InferenceError
from tensorgate.tasks.results import Embedding
from tensorgate.types import Array

__all__ = ["decode_pooled"]


def decode_pooled(output: Array) -> Embedding:
    """``(D,)``, ``(D, 1, 1)`` or a ``(D, H, W)`` feature map (averaged over H and W)
    → a unit-length float32 vector of dimension D.

    Raises:
        InferenceError: the output has a NaN or infinite value, or is all zeros.
    """
    features = output.astype(np.float32, copy=False)
    if features.ndim > 1:
        features = features.reshape(features.shape[0], -1).mean(axis=1)
    if not np.isfinite(features).all():
        raise InferenceError("the embedding has NaN or infinite values; the model is broken")
    norm = float(np.linalg.norm(features))
    if norm == 0.0:
        raise InferenceError("the embedding is all zeros; it has no direction to compare")
    return Embedding((features / norm).astype(np.float32))
