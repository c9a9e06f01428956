"""Where a model input's pixels come from in the original image (pure arithmetic).

Preprocessing maps the upright original image onto the model's input by one affine map
per axis: ``model_x = original_x * scale_x + offset_x`` (a downscale inside the JPEG
decoder, a resize, a centre crop and letterbox padding all fold into it). Decoders use
the inverse to answer in original-image pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tensorgate.types import Array

__all__ = ["ImageGeometry", "PreparedImage"]


@dataclass(frozen=True, slots=True)
class ImageGeometry:
    """The map from original-image pixels to model-input pixels.

    Attributes:
        width / height: the upright original image's size.
        scale_x / scale_y: model-input pixels per original pixel.
        offset_x / offset_y: where original pixel 0 lands in the model input (letterbox
            padding is positive, a centre crop negative).
    """

    width: int
    height: int
    scale_x: float = 1.0
    scale_y: float = 1.0
    offset_x: float = 0.0
    offset_y: float = 0.0

    def to_original(self, boxes: Array) -> Array:
        """``(N, 4)`` xyxy boxes in model-input pixels → original pixels, clipped to the
        image."""
        out = np.empty_like(boxes, dtype=np.float32)
        out[:, 0::2] = (boxes[:, 0::2] - self.offset_x) / self.scale_x
        out[:, 1::2] = (boxes[:, 1::2] - self.offset_y) / self.scale_y
        np.clip(out[:, 0::2], 0.0, float(self.width), out=out[:, 0::2])
        np.clip(out[:, 1::2], 0.0, float(self.height), out=out[:, 1::2])
        return out

    def points_to_original(self, points: Array) -> Array:
        """``(..., 2)`` xy points in model-input pixels → original pixels, clipped."""
        out = np.empty_like(points, dtype=np.float32)
        out[..., 0] = np.clip((points[..., 0] - self.offset_x) / self.scale_x, 0, self.width)
        out[..., 1] = np.clip((points[..., 1] - self.offset_y) / self.scale_y, 0, self.height)
        return out


@dataclass(frozen=True, slots=True)
class PreparedImage:
    """One image ready for the batcher: its tensor (no batch axis) and its geometry."""

    tensor: Array
    geometry: ImageGeometry
