"""The pooled decoder: vectors and feature maps become unit vectors."""

from __future__ import annotations

import numpy as np
import pytest

from tensorgate.errors import InferenceError
from tensorgate.tasks.pooled import decode_pooled


def test_a_vector_is_normalised() -> None:
    embedding = decode_pooled(np.array([3.0, 4.0], np.float32))
    np.testing.assert_allclose(embedding.vector, [0.6, 0.8])
    assert embedding.dimension == 2
    assert embedding.vector.dtype == np.float32


def test_a_feature_map_is_averaged_over_space() -> None:
    features = np.stack([np.full((7, 7), 1.0), np.full((7, 7), 2.0)]).astype(np.float32)
    np.testing.assert_allclose(decode_pooled(features).vector, np.array([1, 2]) / np.sqrt(5))


@pytest.mark.parametrize("bad", [np.array([1.0, np.nan]), np.zeros(4)])
def test_unusable_vectors_are_errors(bad: np.ndarray) -> None:
    with pytest.raises(InferenceError, match="embedding"):
        decode_pooled(bad)
