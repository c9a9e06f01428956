"""Model-input pixels map back to the original image: through the JPEG decoder's
downscale, EXIF orientation, resize, centre crop and letterbox padding."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tensorgate.imaging.preprocess import ImagePreprocessor
from tensorgate.imaging.spec import ImageLimits, PreprocessSpec

SPECS = [
    PreprocessSpec(resize=(320, 320), mode="letterbox", crop=None, datatype="UINT8", layout="NHWC"),
    PreprocessSpec(resize=(256, 384), mode="letterbox", crop=None, datatype="UINT8", layout="NHWC"),
    PreprocessSpec(resize=256, crop=(224, 224), datatype="UINT8", layout="NHWC"),
    PreprocessSpec(resize=(300, 200), mode="exact", crop=None, datatype="UINT8", layout="NHWC"),
]


def photo_with_square(width: int, height: int, box: tuple[int, int, int, int]) -> Image.Image:
    pixels = np.full((height, width, 3), 40, np.uint8)
    left, top, right, bottom = box
    pixels[top:bottom, left:right] = (250, 30, 30)
    return Image.fromarray(pixels)


def encode(image: Image.Image, fmt: str, orientation: int = 1) -> bytes:
    buffer = io.BytesIO()
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    image.save(buffer, format=fmt, quality=95, exif=exif)
    return buffer.getvalue()


def red_box(tensor: np.ndarray) -> np.ndarray:
    """The bounding box (xyxy, model pixels) of the red square in an HWC tensor."""
    red = (tensor[..., 0] > 150) & (tensor[..., 1] < 100)
    rows, columns = np.nonzero(red)
    return np.array([[columns.min(), rows.min(), columns.max() + 1, rows.max() + 1]], np.float32)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_square_found_in_the_tensor_maps_back_to_where_it_is(
    spec: PreprocessSpec, fmt: str
) -> None:
    box = (700, 300, 1000, 600)  # in a 1600 x 1000 original: the decoder may downscale it
    data = encode(photo_with_square(1600, 1000, box), fmt)
    prepared = ImagePreprocessor(spec, ImageLimits()).prepare(data)
    assert (prepared.geometry.width, prepared.geometry.height) == (1600, 1000)
    found = prepared.geometry.to_original(red_box(prepared.tensor))[0]
    step = 1600 / min(prepared.tensor.shape[:2])  # one model pixel, in original pixels
    np.testing.assert_allclose(found, box, atol=3 * step)


def test_the_geometry_is_of_the_upright_image() -> None:
    # Stored 1000 wide x 1600 high with EXIF orientation 6 (rotate 90° clockwise to view).
    upright_box = (700, 300, 1000, 600)
    upright = photo_with_square(1600, 1000, upright_box)
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what the camera wrote
    data = encode(stored, "JPEG", orientation=6)
    prepared = ImagePreprocessor(SPECS[0], ImageLimits()).prepare(data)
    assert (prepared.geometry.width, prepared.geometry.height) == (1600, 1000)
    found = prepared.geometry.to_original(red_box(prepared.tensor))[0]
    np.testing.assert_allclose(found, upright_box, atol=3 * 1600 / 320)
