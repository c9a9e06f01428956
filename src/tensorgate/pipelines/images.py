"""The pixel work of a pipeline, run in the decode pool: open a request's image once at
full size (crops need every pixel; the root model's tensor is made from the same
decode), and turn each crop into its step model's tensor."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from tensorgate.imaging.decode import decode_sized
from tensorgate.imaging.geometry import PreparedImage
from tensorgate.imaging.spec import ImageLimits, PreprocessSpec
from tensorgate.imaging.transforms import geometry_of, preprocess
from tensorgate.pipelines.crops import Region, cut
from tensorgate.repository.pipelines import CropStep

__all__ = ["crops_of", "open_full", "prepare"]

#: Asks the JPEG decoder for its full scale (no side is this long).
FULL_SIZE = 1 << 30


def prepare(image: Image.Image, spec: PreprocessSpec) -> PreparedImage:
    """``image`` (an upright original, or a crop) as ``spec``'s model tensor."""
    return PreparedImage(preprocess(image, spec), geometry_of(spec, image.size, image.size))


def open_full(
    data: bytes, limits: ImageLimits, spec: PreprocessSpec
) -> tuple[Image.Image, PreparedImage]:
    """Decode ``data`` at full size: the image to crop from, and the root's tensor."""
    image = decode_sized(data, limits, FULL_SIZE).image
    return image, prepare(image, spec)


def crops_of(
    image: Image.Image,
    regions: Sequence[Region],
    step: CropStep,
    specs: Sequence[PreprocessSpec],
) -> list[list[PreparedImage | None]]:
    """Each region's crop as each spec's tensor: ``[region][spec]``; None where the
    crop is under the step's minimum size."""
    out: list[list[PreparedImage | None]] = []
    for region in regions:
        crop = cut(image, region, step)
        out.append([None if crop is None else prepare(crop, spec) for spec in specs])
    return out
