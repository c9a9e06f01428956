"""Text models' sizes: PaddleOCR's rule for regions, 48-high padded lines."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tensorgate.imaging.preprocess import ImagePreprocessor
from tensorgate.imaging.spec import ImageLimits, PreprocessSpec
from tensorgate.imaging.transforms import dbnet_size


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((512, 191), (1984, 736)),  # a short image: its shorter side goes up to 736
        ((900, 300), (2208, 736)),
        ((1500, 1000), (1504, 992)),  # large enough: kept, rounded to multiples of 32
        (
            (4000, 3000),
            (1984, 1504),
        ),  # a longer side over 2,000 comes down first (62.5 rounds to 62, as in Python)
        ((736, 736), (736, 736)),
    ],
)
def test_regions_follow_paddleocrs_size_rule(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert dbnet_size(*size, 736) == expected


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("width", "step", "expected"), [(100, 1, 320), (400, 1, 480), (400, 64, 512)]
)
def test_lines_are_48_high_and_padded_with_the_normalised_zero(
    width: int, step: int, expected: int
) -> None:
    spec = PreprocessSpec(
        resize=(48, 320), mode="height", crop=None, mean=(127.5,) * 3, std=(127.5,) * 3,
        width_step=step,
    )  # fmt: skip
    tensor = ImagePreprocessor(spec, ImageLimits()).prepare(png(width, 40)).tensor
    assert tensor.shape == (3, 48, expected)
    resized = int(np.ceil(48 * width / 40))
    assert np.all(tensor[:, :, resized:] == 0.0)  # padding
    assert np.allclose(tensor[:, :, :resized], 1.0)  # white
