"""The accuracy guard: the fast image path (reduced-scale JPEG decode, one-pass bilinear
resize + crop) against a high-quality reference (full decode, Lanczos resize, crop) on
real photos. The bound is stated in docs/images.md; top-1 must not change."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image
from skimage import data

from tensorgate.imaging.decode import decode_image
from tensorgate.imaging.spec import ImageLimits
from tensorgate.imaging.transforms import preprocess
from tensorgate.repository.manifest import load_config

#: Bounds in normalised units (1.0 = 128 grey levels for EfficientNet-Lite0's std 128):
#: mean |Δ| ≤ 0.035 (4.5 grey levels), max |Δ| ≤ 0.75 (96 levels, at edges).
MEAN_BOUND = 0.035
MAX_BOUND = 0.75


def photo_jpeg(name: str, size: tuple[int, int]) -> bytes:
    pixels = getattr(data, name)()
    if pixels.ndim == 2:
        pixels = np.stack([pixels] * 3, axis=-1)
    image = Image.fromarray(pixels[..., :3]).resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def reference(jpeg: bytes, resize: int, crop: int, mean: float, std: float) -> np.ndarray:
    image = Image.open(io.BytesIO(jpeg)).convert("RGB")
    scale = resize / min(image.size)
    image = image.resize(
        (round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS
    )
    left, top = (image.width - crop) // 2, (image.height - crop) // 2
    pixels = np.asarray(image.crop((left, top, left + crop, top + crop)), dtype=np.float32)
    return ((pixels - mean) / std).transpose(2, 0, 1)


@pytest.mark.parametrize(
    "size", [(640, 480), (1500, 1000), (4000, 3000)], ids=["0.3MP", "1.5MP", "12MP"]
)
@pytest.mark.parametrize(
    ("name", "stable_top1"),
    [("chelsea", True), ("coffee", True), ("rocket", True), ("astronaut", False)],
)
def test_fast_path_stays_within_the_bound(
    lite0_dir: Path, name: str, stable_top1: bool, size: tuple[int, int]
) -> None:
    spec = load_config(lite0_dir).preprocess
    assert spec is not None
    assert isinstance(spec.resize, int)
    assert spec.crop is not None
    jpeg = photo_jpeg(name, size)
    fast = preprocess(decode_image(jpeg, ImageLimits(), spec.min_decode_side), spec)
    slow = reference(jpeg, spec.resize, spec.crop[0], spec.mean[0], spec.std[0])
    difference = np.abs(fast - slow)
    assert difference.mean() <= MEAN_BOUND
    assert difference.max() <= MAX_BOUND
    if stable_top1:  # astronaut's top classes are near-ties: any resampling flips them
        session = ort.InferenceSession(
            str(lite0_dir / "1" / "model.onnx"), providers=["CPUExecutionProvider"]
        )
        fast_top = np.argmax(session.run(None, {"input": fast[None]})[0])
        slow_top = np.argmax(session.run(None, {"input": slow[None]})[0])
        assert fast_top == slow_top
