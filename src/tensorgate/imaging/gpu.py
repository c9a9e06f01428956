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

Two ways out. ``prepare`` brings one finished tensor back to host memory, where the
batcher assembles batches (the path for a batch that mixes in other requests). On the
instance thread, ``prepare_many`` takes a whole batch's images at once: one batched
nvJPEG call decodes them, images of one size are resized as one batch, and the tensors
stay on the device, where the batch is stacked and bound to the model
(batching/device.py): pixels never return to host memory between decode and inference.
"""

from __future__ import annotations

import importlib.util
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal, TypeVar

from tensorgate.errors import TensorgateError
from tensorgate.imaging.decode import ORIENTATION_STEPS, jpeg_geometry, sniff_format
from tensorgate.imaging.geometry import ImageGeometry, PreparedImage
from tensorgate.imaging.preprocess import ImagePreprocessor
from tensorgate.imaging.resample import resize_weights
from tensorgate.imaging.spec import ImageLimits, PreprocessSpec
from tensorgate.imaging.transforms import geometry_of
from tensorgate.types import Array

if TYPE_CHECKING:
    import torch

__all__ = [
    "DevicePrepared",
    "GpuImagePreprocessor",
    "choose_preprocessor",
    "gpu_decoder",
    "gpu_jpeg_batch_decoder",
    "gpu_jpeg_decoder",
]

GpuDecoderName = Literal["torchvision", "nvimgcodec"]
#: Raw bytes → an ``(H, W, 3)`` uint8 RGB tensor on the device, not yet oriented.
JpegDecoder = Callable[[bytes], "torch.Tensor"]
#: Many JPEGs → their ``(H, W, 3)`` tensors, in order, in one call (nvJPEG's batched
#: decode); raises when it cannot decode them all.
JpegBatchDecoder = Callable[[Sequence[bytes]], "list[torch.Tensor]"]
#: One image made on the device: its tensor (no batch axis) and its geometry.
DevicePrepared = tuple["torch.Tensor", ImageGeometry]

_CACHED = 64  # distinct sizes whose resize weights / geometry a preprocessor keeps
_K = TypeVar("_K")
_V = TypeVar("_V")
#: Float pixels one batched resize may hold (a group larger than this is cut).
_RESIZE_BYTES = 512 * 2**20


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
    """A thread-safe nvJPEG decoder of one JPEG onto ``device`` (``cuda:N``)."""
    return _one_at_a_time(gpu_jpeg_batch_decoder(name, device))


def _one_at_a_time(many: JpegBatchDecoder) -> JpegDecoder:
    """A batch decoder, called with a batch of one."""
    return lambda data: many([data])[0]


def gpu_jpeg_batch_decoder(name: GpuDecoderName, device: str) -> JpegBatchDecoder:
    """nvJPEG's batched decode onto ``device`` through ``name``, thread-safe: one call
    for a whole batch of JPEGs (torchvision's ``decode_jpeg`` of a list, behind its own
    lock; nvImageCodec's ``Decoder.decode`` of a list, behind ours)."""
    import torch

    if name == "torchvision":
        from torchvision.io import ImageReadMode, decode_jpeg

        def with_torchvision(datas: Sequence[bytes]) -> list[torch.Tensor]:
            encoded = [torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in datas]
            decoded = decode_jpeg(encoded, mode=ImageReadMode.RGB, device=device)
            return [image.permute(1, 2, 0) for image in decoded]

        return with_torchvision

    from nvidia import nvimgcodec

    index = torch.device(device).index or 0
    decoder = nvimgcodec.Decoder(device_id=index)
    params = nvimgcodec.DecodeParams(
        apply_exif_orientation=False, color_spec=nvimgcodec.ColorSpec.RGB
    )
    lock = threading.Lock()

    def with_nvimgcodec(datas: Sequence[bytes]) -> list[torch.Tensor]:
        with lock:
            images = decoder.decode(list(datas), params=params)
            if any(image is None for image in images):
                raise ValueError("nvImageCodec could not decode every JPEG of the batch")
            return [torch.as_tensor(image, device=device) for image in images]

    return with_nvimgcodec


class GpuImagePreprocessor:
    """A model's image path with JPEGs decoded and preprocessed on ``device``.

    Args:
        spec: the model's preprocessing (modes ``shorter`` and ``exact``).
        limits: bounds checked from the header before decoding.
        device: the torch device the work runs on (``cuda:N``; tests use ``cpu``).
        decoder: raw JPEG bytes → ``(H, W, 3)`` uint8 tensor on ``device``.
        batch_decoder: many JPEGs in one call (default: ``decoder`` on each).
    """

    def __init__(
        self,
        spec: PreprocessSpec,
        limits: ImageLimits,
        device: str,
        decoder: JpegDecoder,
        batch_decoder: JpegBatchDecoder | None = None,
    ) -> None:
        if spec.mode == "letterbox":
            raise ValueError("letterbox preprocessing runs on the CPU path only")
        self.spec = spec
        self.limits = limits
        self.device = device
        self._decode = decoder
        self._decode_batch = batch_decoder or (lambda datas: [decoder(d) for d in datas])
        self._cpu = ImagePreprocessor(spec, limits)
        self._weights: OrderedDict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = (
            OrderedDict()
        )
        self._geometries: OrderedDict[tuple[int, int], ImageGeometry] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, data: bytes) -> Array:
        """One image's tensor, without the batch axis, in host memory."""
        if not self._gpu_decodes(data):
            return self._cpu(data)
        _, _, orientation = jpeg_geometry(data, self.limits)
        return self._jpeg(data, orientation)

    def _jpeg(self, data: bytes, orientation: int) -> Array:
        try:
            pixels = self._decode(data)
        except Exception:  # nvJPEG refuses some valid files: the CPU decoder decides
            return self._cpu(data)
        return self.preprocess(pixels, orientation).cpu().numpy()

    def prepare(self, data: bytes) -> PreparedImage:
        """``self(data)`` with its geometry (from the header: no second decode)."""
        if not self._gpu_decodes(data):
            return self._cpu.prepare(data)
        orientation, geometry = self._header(data)
        return PreparedImage(self._jpeg(data, orientation), geometry)

    def prepare_many(self, datas: Sequence[bytes]) -> list[DevicePrepared | TensorgateError]:
        """Each image's tensor on the device (no batch axis) with its geometry, or the
        error that image alone gets, in order. The JPEGs go to the decoder in one batch
        (one at a time only if the batch fails, each the decoder refuses then going to
        the CPU decoder); images of one size and orientation are preprocessed as one
        batch; other formats are made on the CPU and copied over."""
        import torch

        made: list[DevicePrepared | TensorgateError | None] = [None] * len(datas)
        jpegs: list[tuple[int, int, ImageGeometry]] = []  # index, orientation, geometry
        for index, data in enumerate(datas):
            try:
                if not self._gpu_decodes(data):
                    made[index] = self._on_cpu(data)
                    continue
                jpegs.append((index, *self._header(data)))
            except TensorgateError as exc:
                made[index] = exc
        pixels = self._decode_all([datas[index] for index, _, _ in jpegs])
        groups: dict[tuple[int, int, int], list[tuple[int, ImageGeometry, torch.Tensor]]] = {}
        for (index, orientation, geometry), decoded in zip(jpegs, pixels, strict=True):
            if decoded is None:  # the GPU decoder refused it: the CPU decoder decides
                try:
                    made[index] = self._on_cpu(datas[index])
                except TensorgateError as exc:
                    made[index] = exc
                continue
            shape = (int(decoded.shape[0]), int(decoded.shape[1]), orientation)
            groups.setdefault(shape, []).append((index, geometry, decoded))
        for (height, width, orientation), members in groups.items():
            step = max(1, _RESIZE_BYTES // (height * width * 3 * 4))
            for start in range(0, len(members), step):
                part = members[start : start + step]
                batch = self.preprocess_batch(
                    torch.stack([decoded for _, _, decoded in part]), orientation
                )
                for (index, geometry, _), tensor in zip(part, batch.unbind(0), strict=True):
                    made[index] = (tensor, geometry)
        done = [m for m in made if m is not None]
        assert len(done) == len(datas), "every image is made or has its error"
        return done

    def _gpu_decodes(self, data: bytes) -> bool:
        """Whether ``data`` goes to the GPU decoder: a JPEG, with JPEG allowed."""
        return sniff_format(data) == "JPEG" and "JPEG" in self.limits.formats

    def _header(self, data: bytes) -> tuple[int, ImageGeometry]:
        """A JPEG's orientation and geometry, from its header (limits checked there);
        photos of one upright size share one geometry (ImageGeometry is immutable)."""
        width, height, orientation = jpeg_geometry(data, self.limits)
        upright = (height, width) if orientation >= 5 else (width, height)
        geometry = self._cached(
            self._geometries, upright, lambda: geometry_of(self.spec, upright, upright)
        )
        return orientation, geometry

    def _cached(self, cache: OrderedDict[_K, _V], key: _K, make: Callable[[], _V]) -> _V:
        """``cache[key]``, made on a miss; the least recently used past _CACHED go."""
        with self._lock:
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
        value = make()
        with self._lock:
            cache[key] = value
            while len(cache) > _CACHED:
                cache.popitem(last=False)
        return value

    def _on_cpu(self, data: bytes) -> DevicePrepared:
        import torch

        prepared = self._cpu.prepare(data)
        return torch.from_numpy(prepared.tensor).to(self.device), prepared.geometry

    def _decode_all(self, datas: Sequence[bytes]) -> list[torch.Tensor | None]:
        """Decoded pixels of each JPEG, None for those the GPU decoder refuses."""
        if not datas:
            return []
        try:
            return list(self._decode_batch(datas))
        except Exception:  # one bad file fails the batch call: find which, one by one
            decoded: list[torch.Tensor | None] = []
            for data in datas:
                try:
                    decoded.append(self._decode(data))
                except Exception:
                    decoded.append(None)
            return decoded

    def preprocess(self, pixels: torch.Tensor, orientation: int = 1) -> torch.Tensor:
        """An ``(H, W, 3)`` uint8 RGB tensor as stored in the file → the model's tensor."""
        return self.preprocess_batch(pixels.unsqueeze(0), orientation)[0]

    def preprocess_batch(self, pixels: torch.Tensor, orientation: int = 1) -> torch.Tensor:
        """``(N, H, W, 3)`` uint8 RGB images of one size and orientation, as stored in
        their files → the model's ``(N, …)`` tensor: orient, resize (two matrix products
        for the whole batch), colour order, type and normalisation, layout."""
        import torch

        transpose, flip_rows, flip_columns = ORIENTATION_STEPS.get(
            orientation, (False, False, False)
        )
        if transpose:
            pixels = pixels.transpose(1, 2)
        if flip_rows or flip_columns:
            pixels = pixels.flip([axis for axis, on in ((1, flip_rows), (2, flip_columns)) if on])
        rows, columns = self._resize_weights(int(pixels.shape[1]), int(pixels.shape[2]))
        channels = pixels.permute(0, 3, 1, 2).to(torch.float32)
        resized = (rows @ channels @ columns.T).round_().clamp_(0, 255)  # N, C, h, w
        if self.spec.color == "BGR":
            resized = resized.flip(1)
        if self.spec.datatype == "UINT8":
            tensor = resized.to(torch.uint8)
        else:
            mean = torch.tensor(self.spec.mean, device=resized.device).view(1, 3, 1, 1)
            std = torch.tensor(self.spec.std, device=resized.device).view(1, 3, 1, 1)
            dtype = torch.float16 if self.spec.datatype == "FP16" else torch.float32
            tensor = ((resized - mean) / std).to(dtype)
        if self.spec.layout == "NHWC":
            tensor = tensor.permute(0, 2, 3, 1)
        return tensor.contiguous()

    def _resize_weights(self, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        def make() -> tuple[torch.Tensor, torch.Tensor]:
            rows, columns = resize_weights(height, width, self.spec)
            return torch.from_numpy(rows).to(self.device), torch.from_numpy(columns).to(self.device)

        return self._cached(self._weights, (height, width), make)


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
    many = gpu_jpeg_batch_decoder(name, device)
    return GpuImagePreprocessor(spec, limits, device, _one_at_a_time(many), many)
