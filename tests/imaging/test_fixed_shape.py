"""``fixed_tensor_shape`` says the shape ``preprocess`` makes, for every image, or None:
the batcher queues undecoded images by it (decode on the instance), so it must never be
wrong."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tensorgate.imaging.spec import PreprocessSpec
from tensorgate.imaging.transforms import fixed_tensor_shape, preprocess, tensor_dtype

SPECS = [
    PreprocessSpec(),  # shorter 256, crop 224, NCHW FP32 (ImageNet classifiers)
    PreprocessSpec(resize=224, mode="shorter", crop=(224, 224), layout="NHWC"),
    PreprocessSpec(resize=(224, 224), mode="exact", crop=None, datatype="UINT8"),
    PreprocessSpec(resize=(300, 200), mode="exact", crop=(256, 180), datatype="FP16"),
    PreprocessSpec(resize=(640, 640), mode="letterbox", crop=None, color="BGR"),
    PreprocessSpec(resize=320, mode="letterbox", crop=(300, 400)),
]
SIZES = [(1, 1), (17, 900), (900, 17), (224, 224), (640, 480), (1200, 1600)]


@pytest.mark.parametrize("spec", SPECS)
def test_the_declared_shape_is_the_shape_made_for_every_image_size(spec: PreprocessSpec) -> None:
    shape = fixed_tensor_shape(spec)
    assert shape is not None
    for width, height in SIZES:
        image = Image.fromarray(np.zeros((height, width, 3), np.uint8))
        tensor = preprocess(image, spec)
        assert tensor.shape == shape, (spec, width, height)
        assert tensor.dtype == tensor_dtype(spec)


@pytest.mark.parametrize(
    "spec",
    [
        PreprocessSpec(resize=256, mode="shorter", crop=None),
        PreprocessSpec(resize=736, mode="dbnet", crop=None),
        PreprocessSpec(resize=(48, 320), mode="height", crop=None),
    ],
)
def test_shapes_that_depend_on_the_image_are_not_declared(spec: PreprocessSpec) -> None:
    assert fixed_tensor_shape(spec) is None
