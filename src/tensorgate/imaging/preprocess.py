"""Bytes in, model tensor out: decode at reduced scale, then preprocess by the spec."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tensorgate.imaging.decode import decode_image
from tensorgate.imaging.spec import ImageLimits, PreprocessSpec
from tensorgate.imaging.transforms import preprocess
from tensorgate.types import Array

__all__ = ["ImagePreprocessor", "ImageTransform"]


class ImageTransform(Protocol):
    """Encoded image bytes → one model input tensor (the CPU or the GPU path)."""

    @property
    def spec(self) -> PreprocessSpec: ...

    def __call__(self, data: bytes) -> Array: ...


@dataclass(frozen=True, slots=True)
class ImagePreprocessor:
    """A model's image path; thread-safe, meant for a decode pool."""

    spec: PreprocessSpec
    limits: ImageLimits

    def __call__(self, data: bytes) -> Array:
        """One image's tensor, without the batch axis."""
        image = decode_image(data, self.limits, self.spec.min_decode_side)
        return preprocess(image, self.spec)
