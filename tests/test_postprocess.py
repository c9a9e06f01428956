"""Softmax and top-k against a plain full sort: order, ties, k past the classes, -inf
and the rows of a batch at once."""

from __future__ import annotations

import numpy as np
import pytest

from tensorgate.imaging.spec import PostprocessSpec
from tensorgate.postprocess import top_k


def reference(scores: np.ndarray, softmax: bool, k: int) -> list[list[tuple[int, float]]]:
    """Each row sorted in full (descending, ties by index), softmax in float64."""
    answers = []
    for row in scores.astype(np.float64):
        values = np.exp(row - row.max()) / np.exp(row - row.max()).sum() if softmax else row
        order = sorted(range(row.size), key=lambda i: (-row[i], i))[:k]
        answers.append([(i, float(values[i])) for i in order])
    return answers


@pytest.mark.parametrize("softmax", [True, False])
@pytest.mark.parametrize(
    ("rows", "classes", "k"), [(1, 1000, 5), (7, 37, 3), (3, 10, 16), (2, 40, 20)]
)
def test_top_k_agrees_with_a_full_sort(softmax: bool, rows: int, classes: int, k: int) -> None:
    rng = np.random.default_rng(rows * classes + k)
    scores = (rng.standard_normal((rows, classes)) * 4).astype(np.float32)
    scores[0, :3] = scores[0].max()  # a three-way tie at the top of the first row
    labels = tuple(f"class {i}" for i in range(classes - 1))  # the last has no label
    got = top_k(scores, PostprocessSpec(softmax=softmax, labels=labels), k)
    want = reference(scores, softmax, k)
    assert len(got) == rows
    for answer, expected in zip(got, want, strict=True):
        assert [c.index for c in answer] == [i for i, _ in expected]
        assert [c.score for c in answer] == pytest.approx([s for _, s in expected], rel=1e-6)
        assert [c.label for c in answer] == [
            labels[i] if i < len(labels) else str(i) for i, _ in expected
        ]
    assert [c.index for c in got[0][:3]] == [0, 1, 2]


def test_top_k_never_repeats_a_class_when_minus_infinity_is_left() -> None:
    scores = np.array([[1, 3, 3, 2, -np.inf, -np.inf], [-np.inf] * 6], dtype=np.float32)
    first, second = top_k(scores, PostprocessSpec(softmax=False), 6)
    assert [c.index for c in first] == [1, 2, 3, 0, 4, 5]
    assert [c.score for c in first] == [3, 3, 2, 1, -np.inf, -np.inf]
    assert sorted(c.index for c in second) == list(range(6))


def test_top_k_of_no_rows_or_no_classes_is_empty() -> None:
    spec = PostprocessSpec(softmax=True)
    assert top_k(np.zeros((0, 10), np.float32), spec, 5) == []
    assert top_k(np.zeros((2, 10), np.float32), spec, 0) == [[], []]
