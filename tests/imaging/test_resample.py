"""The resize as two weight matrices equals Pillow's antialiased bilinear resize."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tensorgate.imaging.resample import axis_weights, resize_weights
from tensorgate.imaging.spec import PreprocessSpec
from tensorgate.imaging.transforms import resize_and_crop

SPECS = [
    PreprocessSpec(),  # shorter side 256, centre crop 224
    PreprocessSpec(resize=(224, 224), mode="exact", crop=None),
    PreprocessSpec(resize=(300, 200), mode="exact", crop=(160, 160)),
    PreprocessSpec(resize=400, crop=(380, 390)),  # enlarging
]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("shape", [(300, 451), (97, 203), (512, 512), (1000, 37)])
def test_matrices_resize_as_pillow_does(
    spec: PreprocessSpec, shape: tuple[int, int], chelsea: np.ndarray
) -> None:
    rng = np.random.default_rng(shape[0] * shape[1])
    noise = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    photo = np.asarray(Image.fromarray(chelsea).resize(shape[::-1]))
    for pixels in (noise, photo):
        expected = np.asarray(resize_and_crop(Image.fromarray(pixels), spec), dtype=np.float32)
        rows, columns = resize_weights(*shape, spec)
        got = np.stack([rows @ pixels[..., c].astype(np.float32) @ columns.T for c in range(3)], -1)
        assert got.shape == expected.shape
        # Pillow rounds its horizontal pass to 8 bits before the vertical one: ≤ 1 level.
        assert np.abs(np.round(got) - expected).max() <= 1.0
        assert np.abs(got - expected).mean() < 0.5


def test_rows_are_normalised_and_local() -> None:
    weights = axis_weights(1000, 10)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)
    assert np.count_nonzero(weights[0]) <= 200  # the filter spans two output pixels
    assert weights[0, 500] == 0.0


@pytest.mark.parametrize(
    ("in_size", "out_size", "start", "end"),
    [(10, 0, 0.0, None), (0, 5, 0.0, None), (10, 5, 4.0, 4.0), (10, 5, 0.0, 11.0)],
)
def test_an_impossible_axis_is_refused(
    in_size: int, out_size: int, start: float, end: float | None
) -> None:
    with pytest.raises(ValueError, match="cannot resample"):
        axis_weights(in_size, out_size, start, end)


def test_letterbox_has_no_matrices() -> None:
    with pytest.raises(ValueError, match="letterbox"):
        resize_weights(100, 100, PreprocessSpec(resize=(64, 64), mode="letterbox"))
