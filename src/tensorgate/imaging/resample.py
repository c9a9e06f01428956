"""Pillow's antialiased bilinear resize as two weight matrices, for any array library.

A resize of a ``(H, W)`` image to ``(h, w)`` over a source box is separable: the output
is ``Wy @ image @ Wx.T`` per channel, where row ``i`` of ``Wx`` holds the weights output
column ``i`` gives to each source column. This module computes those matrices exactly as
Pillow's ``ImagingResample`` does (triangle filter widened by the scale when shrinking,
weights normalised per row), so a device that multiplies matrices fast (a GPU) resizes
the way the CPU path does, within Pillow's own rounding of its intermediate row pass
(at most one grey level; see tests/imaging/test_resample.py).
"""

from __future__ import annotations

import numpy as np

from tensorgate.imaging.spec import PreprocessSpec
from tensorgate.imaging.transforms import source_box
from tensorgate.types import Array

__all__ = ["axis_weights", "resize_weights"]


def _triangle(x: Array) -> Array:
    magnitude = np.abs(x)
    return np.where(magnitude < 1.0, 1.0 - magnitude, 0.0)


def axis_weights(
    in_size: int, out_size: int, start: float = 0.0, end: float | None = None
) -> Array:
    """The ``(out_size, in_size)`` float32 matrix that resizes one axis.

    ``start``/``end`` bound the source interval mapped onto the output (Pillow's ``box``);
    by default the whole axis.
    """
    end = float(in_size) if end is None else end
    if out_size < 1 or in_size < 1 or not 0.0 <= start < end <= in_size:
        raise ValueError(
            f"cannot resample [{start}, {end}) of an axis of {in_size} onto {out_size} pixels"
        )
    scale = (end - start) / out_size
    filter_scale = max(scale, 1.0)
    support = filter_scale  # the bilinear (triangle) filter's support is 1
    weights = np.zeros((out_size, in_size), dtype=np.float64)
    for index in range(out_size):
        center = start + (index + 0.5) * scale
        low = max(int(center - support + 0.5), 0)
        high = min(int(center + support + 0.5), in_size)
        taps = np.arange(low, high, dtype=np.float64)
        row = _triangle((taps - center + 0.5) / filter_scale)
        total = row.sum()
        if total > 0:
            weights[index, low:high] = row / total
    return weights.astype(np.float32)


def resize_weights(height: int, width: int, spec: PreprocessSpec) -> tuple[Array, Array]:
    """``(Wy, Wx)`` that take an upright ``height × width`` image to the spec's resized and
    centre-cropped size, in one pass (modes ``shorter`` and ``exact``)."""
    if spec.mode == "letterbox":
        raise ValueError("letterbox preprocessing has no single-pass resize matrices")
    (out_w, out_h), (left, top, right, bottom) = source_box(width, height, spec)
    return axis_weights(height, out_h, top, bottom), axis_weights(width, out_w, left, right)
