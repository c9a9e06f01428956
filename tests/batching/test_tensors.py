"""Stacking requests into a batch and cutting the outputs back (batching/tensors.py)."""

from __future__ import annotations

import numpy as np

from tensorgate.batching.tensors import split, stack


def rows(n: int, value: int) -> dict[str, np.ndarray]:
    return {"x": np.full((n, 2, 3), value, np.uint8), "k": np.full((n, 1), value, np.int64)}


def test_requests_stack_along_the_batch_axis_and_one_passes_through() -> None:
    a, b = rows(2, 1), rows(3, 2)
    batch = stack([a, b])
    assert batch["x"].shape == (5, 2, 3)
    assert batch["k"][:, 0].tolist() == [1, 1, 2, 2, 2]
    assert stack([a])["x"] is a["x"]  # no copy for a request alone
    assert stack([a, b], rows=5)["x"].shape == (5, 2, 3)  # its own size: no padding


def test_a_padded_batch_is_stacked_at_its_bucket_size_with_zero_rows_after() -> None:
    a, b = rows(2, 7), rows(1, 9)
    batch = stack([a, b], rows=8)
    assert batch["x"].shape == (8, 2, 3)
    assert batch["x"].dtype == np.uint8
    assert batch["k"][:, 0].tolist() == [7, 7, 9, 0, 0, 0, 0, 0]
    assert not batch["x"][3:].any()
    alone = stack([a], rows=4)  # a request alone is padded too, into a new array
    assert alone["x"].shape == (4, 2, 3)
    assert alone["x"][:2].tolist() == a["x"].tolist()
    assert not alone["x"][2:].any()


def test_outputs_are_cut_back_per_request() -> None:
    outputs = {"y": np.arange(5.0)}
    first, second = split(outputs, [2, 3])
    assert first["y"].tolist() == [0.0, 1.0]
    assert second["y"].tolist() == [2.0, 3.0, 4.0]
