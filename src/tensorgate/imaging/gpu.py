"""Decode and preprocess JPEGs on the model's GPU (nvJPEG), the CPU path otherwise.

On a GPU server the CPU cores, not the GPU, run out first: decoding a 12 MP photo costs
more CPU time than classifying it. When a model runs on ``cuda:N`` and a GPU JPEG decoder
is installed — torchvision's ``decode_jpeg(device="cuda")`` or NVIDIA's nvImageCodec
(``nvidia-nvimgcodec-cu12``), both nvJPEG underneath — JPEGs are decoded there and
resized, cropped and normalised there with torch: the resize is Pillow's own antialiased
bilinear filter written as two matrix products (``imaging.resample``), so the tensor
matches the CPU path's within the accuracy bound (tests/imaging/test_gpu.py).

Everything else keeps to the CPU path: limits are checked from the JPEG header first (no
pixel is allocated on either side for an oversized image), PNG and WebP decode on the
CPU, and a JPEG the GPU decoder rejects (CMYK, progressive quirks, corrupt data) is
retried by the CPU decoder, which gives either the image or the usual ``ImageError``.
The finished tensor comes back to host memory, where the batcher assembles batches.
"""

from __future__ import annotations

import importlib.util
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from tensorgate.imaging.decode import ORIENTATION_STEPS, jpeg_geometry, sniff_format
from tensorgate.imaging.geometry import PreparedImage
from tensorgate.imaging.preprocess import ImagePreprocessor
from tensorgate.imaging.resample import resize_weights
from tensorgate.imaging.spec import ImageLimits, PreprocessSpec
from tensorgate.imaging.transforms import geometry_of
from tensorgate.types import Array

if TYPE_CHECKING:
    import torch

__all__ = ["GpuImagePreprocessor", "choose_preprocessor", "gpu_decoder", "gpu_jpeg_decoder"]

GpuDecoderName = Literal["torchvision", "nvimgcodec"]
#: Raw bytes → an ``(H, W, 3)`` uint8 RGB tensor on the device, not yet oriented.
JpegDecoder = Callable[[bytes], "torch.Tensor"]

_WEIGHT_CACHE = 64  # distinct (height, width) pairs kept per preprocessor


def gpu_decoder() -> GpuDecoderName | None:
    """Which GPU JPEG decoder is installed here (None: neither)."""
    if importlib.util.find_spec("torch") is None:
        return None
    if importlib.util.find_spec("torchvision") is not None:
        return "torchvision"
    try:
        if importlib.util.find_spec("nvidia.nvimgcodec") is not None:
            return "nvimgcodec"
    except ModuleNotFoundError:  # no ``nvidia`` namespace package at all
        pass
    return None


def gpu_jpeg_decoder(name: GpuDecoderName, device: str) -> JpegDecoder:
    """A thread-safe nvJPEG decoder onto ``device`` (``cuda:N``) through ``name``."""
    import torch

    if name == "torchvision":
        from torchvision.io import ImageReadMode, decode_jpeg

        def with_torchvision(data: bytes) -> torch.Tensor:
            encoded = torch.frombuffer(bytearray(data), dtype=torch.uint8)
            decoded: torch.Tensor = decode_jpeg(encoded, mode=ImageReadMode.RGB, device=device)
            return decoded.permute(1, 2, 0)

        return with_torchvision

    from nvidia import nvimgcodec

    index = torch.device(device).index or 0
    decoder = nvimgcodec.Decoder(device_id=index)
    params = nvimgcodec.DecodeParams(
        apply_exif_orientation=False, color_spec=nvimgcodec.ColorSpec.RGB
    )
    lock = threading.Lock()

    def with_nvimgcodec(data: bytes) -> torch.Tensor:
        with lock:  # one decoder object; its thread-safety is not documented
            image = decoder.decode(data, params=params)
            if image is None:
                raise ValueError("nvImageCodec could not decode the JPEG")
            return torch.as_tensor(image, device=device)

    return with_nvimgcodec


class GpuImagePreprocessor:
    """A model's image path with JPEGs decoded and preprocessed on ``device``.

    Args:
        spec: the model's preprocessing (modes ``shorter`` and ``exact``).
        limits: bounds checked from the header before decoding.
        device: the torch device the work runs on (``cuda:N``; tests use ``cpu``).
        decoder: raw JPEG bytes → ``(H, W, 3)`` uint8 tensor on ``device``.
    """

    def __init__(
        self, spec: PreprocessSpec, limits: ImageLimits, device: str, decoder: JpegDecoder
    ) -> None:
        if spec.mode == "letterbox":
            raise ValueError("letterbox preprocessing runs on the CPU path only")
        self.spec = spec
        self.limits = limits
        self.device = device
        self._decode = decoder
        self._cpu = ImagePreprocessor(spec, limits)
        self._weights: OrderedDict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def __call__(self, data: bytes) -> Array:
        """One image's tensor, without the batch axis, in host memory."""
        if sniff_format(data) != "JPEG" or "JPEG" not in self.limits.formats:
            return self._cpu(data)
        _, _, orientation = jpeg_geometry(data, self.limits)
        try:
            pixels = self._decode(data)
        except Exception:  # nvJPEG refuses some valid files: the CPU decoder decides
            return self._cpu(data)
        return self.preprocess(pixels, orientation).cpu().numpy()

    def prepare(self, data: bytes) -> PreparedImage:
        """``self(data)`` with its geometry (from the header: no second decode)."""
        if sniff_format(data) != "JPEG" or "JPEG" not in self.limits.formats:
            return self._cpu.prepare(data)
        width, height, orientation = jpeg_geometry(data, self.limits)
        upright = (height, width) if orientation >= 5 else (width, height)
        return PreparedImage(self(data), geometry_of(self.spec, upright, upright))

    def preprocess(self, pixels: torch.Tensor, orientation: int = 1) -> torch.Tensor:
        """An ``(H, W, 3)`` uint8 RGB tensor as stored in the file → the model's tensor."""
        import torch

        transpose, flip_rows, flip_columns = ORIENTATION_STEPS.get(
            orientation, (False, False, False)
        )
        if transpose:
            pixels = pixels.transpose(0, 1)
        if flip_rows or flip_columns:
            pixels = pixels.flip([axis for axis, on in ((0, flip_rows), (1, flip_columns)) if on])
        rows, columns = self._resize_weights(int(pixels.shape[0]), int(pixels.shape[1]))
        channels = pixels.permute(2, 0, 1).to(torch.float32)
        resized = (rows @ channels @ columns.T).round_().clamp_(0, 255)  # C, h, w
        if self.spec.color == "BGR":
            resized = resized.flip(0)
        if self.spec.datatype == "UINT8":
            tensor = resized.to(torch.uint8)
        else:
            mean = torch.tensor(self.spec.mean, device=resized.device).view(3, 1, 1)
            std = torch.tensor(self.spec.std, device=resized.device).view(3, 1, 1)
            dtype = torch.float16 if self.spec.datatype == "FP16" else torch.float32
            tensor = ((resized - mean) / std).to(dtype)
        if self.spec.layout == "NHWC":
            tensor = tensor.permute(1, 2, 0)
        return tensor.contiguous()

    def _resize_weights(self, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        key = (height, width)
        with self._lock:
            if key in self._weights:
                self._weights.move_to_end(key)
                return self._weights[key]
        rows, columns = resize_weights(height, width, self.spec)
        pair = (
            torch.from_numpy(rows).to(self.device),
            torch.from_numpy(columns).to(self.device),
        )
        with self._lock:
            self._weights[key] = pair
            while len(self._weights) > _WEIGHT_CACHE:
                self._weights.popitem(last=False)
        return pair


def choose_preprocessor(
    spec: PreprocessSpec,
    limits: ImageLimits,
    device: str,
    *,
    allow_gpu: bool = True,
    available: GpuDecoderName | Literal["probe"] | None = "probe",
) -> ImagePreprocessor | GpuImagePreprocessor:
    """The GPU preprocessor for a model on ``cuda:N`` with a GPU decoder installed (and a
    spec it can run), the CPU preprocessor otherwise. ``available`` lets tests say which
    decoder is installed instead of probing."""
    name = gpu_decoder() if available == "probe" else available
    if not allow_gpu or name is None or not device.startswith("cuda") or spec.mode == "letterbox":
        return ImagePreprocessor(spec, limits)
    return GpuImagePreprocessor(spec, limits, device, gpu_jpeg_decoder(name, device))
