"""Bytes in, model tensor out: decode at reduced scale, then preprocess by the spec."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tensorgate.imaging.decode import decode_image, decode_sized
from tensorgate.imaging.geometry import PreparedImage
from tensorgate.imaging.spec import ImageLimits, PreprocessSpec
from tensorgate.imaging.transforms import geometry_of, preprocess
from tensorgate.types import Array

__all__ = ["ImagePreprocessor", "ImageTransform"]


class ImageTransform(Protocol):
    """Encoded image bytes → one model input tensor (the CPU or the GPU path)."""

    @property
    def spec(self) -> PreprocessSpec: ...

    def __call__(self, data: bytes) -> Array: ...

    def prepare(self, data: bytes) -> PreparedImage: ...


@dataclass(frozen=True, slots=True)
class ImagePreprocessor:
    """A model's image path; thread-safe, meant for a decode pool."""

    spec: PreprocessSpec
    limits: ImageLimits

    def __call__(self, data: bytes) -> Array:
        """One image's tensor, without the batch axis."""
        image = decode_image(data, self.limits, self.spec.min_decode_side)
        return preprocess(image, self.spec)

    def prepare(self, data: bytes) -> PreparedImage:
        """One image's tensor and where its pixels came from (a detector maps its boxes
        back to the original with it)."""
        decoded = decode_sized(data, self.limits, self.spec.min_decode_side)
        geometry = geometry_of(self.spec, decoded.image.size, (decoded.width, decoded.height))
        return PreparedImage(preprocess(decoded.image, self.spec), geometry)
