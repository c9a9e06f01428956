"""The GPU image path: the same tensor as the CPU path within the accuracy bound.

Off a GPU the path still runs for real on torch's CPU device, with libjpeg-turbo's
full-resolution decode standing in for nvJPEG (which also decodes at full resolution);
the ``gpu`` test runs the real nvJPEG decoder on ``cuda:0`` and skips without one.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import simplejpeg
from PIL import Image, ImageOps

from tensorgate.errors import ImageError, ImageTooLargeError
from tensorgate.imaging.gpu import GpuImagePreprocessor, choose_preprocessor, gpu_decoder
from tensorgate.imaging.preprocess import ImagePreprocessor
from tensorgate.imaging.spec import ImageLimits, PreprocessSpec
from tensorgate.imaging.transforms import preprocess
from tensorgate.repository.manifest import load_config
from tests.imaging.test_accuracy import MAX_BOUND, MEAN_BOUND, photo_jpeg, reference

pytest.importorskip("torch")
import torch

LIMITS = ImageLimits()


def full_decode(data: bytes) -> torch.Tensor:
    return torch.from_numpy(simplejpeg.decode_jpeg(data, colorspace="RGB"))


def pillow_path(jpeg: bytes, spec: PreprocessSpec) -> np.ndarray:
    """Full-resolution decode and Pillow's resize: what the GPU path computes."""
    upright = ImageOps.exif_transpose(Image.open(io.BytesIO(jpeg))).convert("RGB")
    return preprocess(upright, spec)


def lite0_spec(lite0_dir: Path) -> PreprocessSpec:
    spec = load_config(lite0_dir).preprocess
    assert spec is not None
    return spec


@pytest.mark.parametrize("size", [(640, 480), (1500, 1000)], ids=["0.3MP", "1.5MP"])
@pytest.mark.parametrize("name", ["chelsea", "coffee", "rocket"])
def test_gpu_path_stays_within_the_bound(lite0_dir: Path, name: str, size: tuple[int, int]) -> None:
    spec = lite0_spec(lite0_dir)
    assert isinstance(spec.resize, int)
    assert spec.crop is not None
    jpeg = photo_jpeg(name, size)
    fast = GpuImagePreprocessor(spec, LIMITS, "cpu", full_decode)(jpeg)
    slow = reference(jpeg, spec.resize, spec.crop[0], spec.mean[0], spec.std[0])
    cpu_path = ImagePreprocessor(spec, LIMITS)(jpeg)
    assert fast.shape == slow.shape == cpu_path.shape
    assert fast.dtype == np.float32
    difference = np.abs(fast - slow)
    assert difference.mean() <= MEAN_BOUND
    assert difference.max() <= MAX_BOUND
    session = ort.InferenceSession(
        str(lite0_dir / "1" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    tops = [np.argmax(session.run(None, {"input": t[None]})[0]) for t in (fast, slow, cpu_path)]
    assert tops[0] == tops[1] == tops[2]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(orientation: int, chelsea: np.ndarray) -> None:
    spec = PreprocessSpec(resize=(64, 96), mode="exact", crop=None, layout="NHWC")
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(chelsea).save(buffer, format="JPEG", quality=95, exif=exif)
    jpeg = buffer.getvalue()
    gpu = GpuImagePreprocessor(spec, LIMITS, "cpu", full_decode)(jpeg)
    expected = pillow_path(jpeg, spec)
    assert gpu.shape == expected.shape == (64, 96, 3)
    assert np.abs(gpu - expected).max() <= 1.0  # grey levels; a wrong turn differs by ~40


@pytest.mark.parametrize(
    "spec",
    [
        PreprocessSpec(datatype="UINT8", layout="NHWC"),
        PreprocessSpec(color="BGR", mean=(104.0, 117.0, 123.0), std=(58.0, 57.0, 57.5)),
        PreprocessSpec(datatype="FP16", mean=(127.0,) * 3, std=(128.0,) * 3),
    ],
    ids=["uint8-nhwc", "bgr", "fp16"],
)
def test_every_output_form_matches_pillow(spec: PreprocessSpec, cat_jpeg: bytes) -> None:
    gpu = GpuImagePreprocessor(spec, LIMITS, "cpu", full_decode)(cat_jpeg)
    expected = pillow_path(cat_jpeg, spec)
    assert gpu.shape == expected.shape
    assert gpu.dtype == expected.dtype
    level = 1.0 / min(spec.std) + (1e-3 if spec.datatype == "FP16" else 1e-6)
    assert np.abs(gpu.astype(np.float32) - expected.astype(np.float32)).max() <= level


def test_png_and_refused_jpegs_take_the_cpu_path(coffee_png: bytes, cat_jpeg: bytes) -> None:
    spec = PreprocessSpec()
    calls: list[int] = []

    def refusing(data: bytes) -> torch.Tensor:
        calls.append(len(data))
        raise RuntimeError("nvjpeg: unsupported JPEG (CMYK)")

    preprocessor = GpuImagePreprocessor(spec, LIMITS, "cpu", refusing)
    cpu = ImagePreprocessor(spec, LIMITS)
    np.testing.assert_array_equal(preprocessor(coffee_png), cpu(coffee_png))
    assert calls == []
    np.testing.assert_array_equal(preprocessor(cat_jpeg), cpu(cat_jpeg))
    assert calls == [len(cat_jpeg)]


def test_limits_are_checked_before_the_gpu_decodes(cat_jpeg: bytes) -> None:
    def never(data: bytes) -> torch.Tensor:
        raise AssertionError("decoded an image the limits refuse")

    preprocessor = GpuImagePreprocessor(
        PreprocessSpec(), ImageLimits(max_pixels=10_000), "cpu", never
    )
    with pytest.raises(ImageTooLargeError, match="10,000"):
        preprocessor(cat_jpeg)
    with pytest.raises(ImageError, match="JPEG image header is corrupt"):
        preprocessor(b"\xff\xd8\xff\xe0" + b"\x00" * 20)


def test_the_gpu_path_is_chosen_only_for_a_gpu_model_with_a_decoder() -> None:
    spec = PreprocessSpec()
    assert isinstance(
        choose_preprocessor(spec, LIMITS, "cpu", available="torchvision"), ImagePreprocessor
    )
    assert isinstance(
        choose_preprocessor(spec, LIMITS, "cuda:0", available=None), ImagePreprocessor
    )
    assert isinstance(
        choose_preprocessor(spec, LIMITS, "cuda:0", allow_gpu=False, available="torchvision"),
        ImagePreprocessor,
    )
    letterbox = PreprocessSpec(resize=(64, 64), mode="letterbox")
    assert isinstance(choose_preprocessor(letterbox, LIMITS, "cuda:0"), ImagePreprocessor)
    with pytest.raises(ValueError, match="letterbox"):
        GpuImagePreprocessor(letterbox, LIMITS, "cpu", full_decode)


@pytest.mark.gpu
def test_nvjpeg_on_cuda_stays_within_the_bound(lite0_dir: Path) -> None:
    if not torch.cuda.is_available() or gpu_decoder() is None:
        pytest.skip("needs a CUDA device and torchvision or nvImageCodec")
    spec = lite0_spec(lite0_dir)
    assert isinstance(spec.resize, int)
    assert spec.crop is not None
    preprocessor = choose_preprocessor(spec, LIMITS, "cuda:0")
    assert isinstance(preprocessor, GpuImagePreprocessor)
    for name in ("chelsea", "coffee", "rocket"):
        jpeg = photo_jpeg(name, (1500, 1000))
        slow = reference(jpeg, spec.resize, spec.crop[0], spec.mean[0], spec.std[0])
        difference = np.abs(preprocessor(jpeg) - slow)
        assert difference.mean() <= MEAN_BOUND
        assert difference.max() <= MAX_BOUND
