"""Turn a decoded image into a model input tensor, as its preprocess spec says.

Resize and centre crop run as one Pillow resize over the crop's source box (no pixel
outside the crop is computed); normalisation is one vectorised numpy expression.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from tensorgate.imaging.geometry import ImageGeometry
from tensorgate.imaging.spec import PreprocessSpec
from tensorgate.types import Array

__all__ = [
    "dbnet_size",
    "fixed_tensor_shape",
    "geometry_of",
    "letterbox",
    "line_size",
    "preprocess",
    "resize_and_crop",
    "source_box",
    "tensor_dtype",
]

#: DBNet inputs: a longer side above this comes down to it first (RapidOCR's default).
DBNET_MAX_SIDE = 2000


def _round32(value: float) -> int:
    return max(32, int(round(int(value) / 32) * 32))


def dbnet_size(width: int, height: int, limit: int) -> tuple[int, int]:
    """The (width, height) a text-region model sees: a longer side over 2,000 px comes
    down to 2,000; a shorter side under ``limit`` goes up to it; larger images keep
    their size; each side rounds to a multiple of 32 (PaddleOCR's rule)."""
    w, h = float(width), float(height)
    if max(w, h) > DBNET_MAX_SIDE:
        ratio = DBNET_MAX_SIDE / max(w, h)
        w, h = _round32(w * ratio), _round32(h * ratio)
    if min(w, h) < limit:
        ratio = limit / min(w, h)
        w, h = w * ratio, h * ratio
    return _round32(w), _round32(h)


def line_size(width: int, height: int, target_height: int, max_width: int = 4096) -> int:
    """The width a text line is resized to at ``target_height``, keeping its ratio."""
    return max(1, min(max_width, int(np.ceil(target_height * width / height))))


def source_box(
    width: int, height: int, spec: PreprocessSpec
) -> tuple[tuple[int, int], tuple[float, float, float, float]]:
    """Output size and the source box that maps onto it."""
    if spec.resize is None:
        scale_x = scale_y = 1.0
    elif spec.mode == "exact":
        target_h, target_w = spec.resize if isinstance(spec.resize, tuple) else (spec.resize,) * 2
        scale_x, scale_y = target_w / width, target_h / height
    else:
        shorter = spec.resize if isinstance(spec.resize, int) else min(spec.resize)
        scale_x = scale_y = shorter / min(width, height)
    resized_w, resized_h = round(width * scale_x), round(height * scale_y)
    if spec.crop is None:
        return (resized_w, resized_h), (0.0, 0.0, float(width), float(height))
    crop_h, crop_w = min(spec.crop[0], resized_h), min(spec.crop[1], resized_w)
    left = (resized_w - crop_w) / 2 / scale_x
    top = (resized_h - crop_h) / 2 / scale_y
    return (crop_w, crop_h), (left, top, left + crop_w / scale_x, top + crop_h / scale_y)


def resize_and_crop(image: Image.Image, spec: PreprocessSpec) -> Image.Image:
    """Resize (bilinear, antialiased) and centre-crop in a single pass."""
    size, box = source_box(image.width, image.height, spec)
    if size == image.size and box == (0.0, 0.0, float(image.width), float(image.height)):
        return image
    return image.resize(size, Image.Resampling.BILINEAR, box=box)


def _letterbox_place(
    width: int, height: int, spec: PreprocessSpec
) -> tuple[int, int, int, int, int, int]:
    """Where a ``width`` × ``height`` image lands on the letterbox canvas: its resized
    size, its top-left corner, and the crop's top-left corner (0, 0 without a crop)."""
    target_h, target_w = spec.resize if isinstance(spec.resize, tuple) else (spec.resize or 0,) * 2
    scale = min(target_h / height, target_w / width)
    resized_w = max(1, min(target_w, round(width * scale)))
    resized_h = max(1, min(target_h, round(height * scale)))
    left, top = (target_w - resized_w) // 2, (target_h - resized_h) // 2
    crop_left = crop_top = 0
    if spec.crop is not None:
        crop_h, crop_w = min(spec.crop[0], target_h), min(spec.crop[1], target_w)
        crop_top, crop_left = (target_h - crop_h) // 2, (target_w - crop_w) // 2
    return resized_w, resized_h, left, top, crop_left, crop_top


def letterbox(image: Image.Image, spec: PreprocessSpec) -> Array:
    """Fit the image inside ``spec.resize`` (h, w) keeping its aspect ratio, centred on a
    canvas filled with ``spec.pad``; HWC uint8."""
    target_h, target_w = spec.resize if isinstance(spec.resize, tuple) else (spec.resize or 0,) * 2
    width, height, left, top, crop_left, crop_top = _letterbox_place(
        image.width, image.height, spec
    )
    canvas = np.full((target_h, target_w, 3), spec.pad, dtype=np.uint8)
    resized = image.resize((width, height), Image.Resampling.BILINEAR)
    canvas[top : top + height, left : left + width] = np.asarray(resized)
    if spec.crop is not None:
        crop_h, crop_w = min(spec.crop[0], target_h), min(spec.crop[1], target_w)
        canvas = canvas[crop_top : crop_top + crop_h, crop_left : crop_left + crop_w]
    return canvas


def geometry_of(
    spec: PreprocessSpec, decoded: tuple[int, int], original: tuple[int, int]
) -> ImageGeometry:
    """The map from original pixels to model-input pixels for an image the decoder
    delivered at ``decoded`` (width, height) from an upright ``original`` (width,
    height)."""
    width, height = decoded
    if spec.mode in ("dbnet", "height"):
        out_w, out_h = _text_size(width, height, spec)
        return ImageGeometry(original[0], original[1], out_w / original[0], out_h / original[1])
    if spec.mode == "letterbox":
        resized_w, resized_h, left, top, crop_left, crop_top = _letterbox_place(width, height, spec)
        return ImageGeometry(
            original[0],
            original[1],
            resized_w / original[0],
            resized_h / original[1],
            float(left - crop_left),
            float(top - crop_top),
        )
    (out_w, out_h), (box_left, box_top, box_right, box_bottom) = source_box(width, height, spec)
    step_x, step_y = out_w / (box_right - box_left), out_h / (box_bottom - box_top)
    return ImageGeometry(
        original[0],
        original[1],
        width / original[0] * step_x,
        height / original[1] * step_y,
        -box_left * step_x,
        -box_top * step_y,
    )


def _text_size(width: int, height: int, spec: PreprocessSpec) -> tuple[int, int]:
    """The (width, height) a ``dbnet`` or ``height`` spec resizes an image to (before a
    line's padding)."""
    if spec.mode == "dbnet":
        return dbnet_size(width, height, spec.resize if isinstance(spec.resize, int) else 736)
    target = spec.resize[0] if isinstance(spec.resize, tuple) else 48
    return line_size(width, height, target), target


def _resized_for_text(image: Image.Image, spec: PreprocessSpec) -> Image.Image:
    size = _text_size(image.width, image.height, spec)
    return image.resize(size, Image.Resampling.BILINEAR)


def fixed_tensor_shape(spec: PreprocessSpec) -> tuple[int, ...] | None:
    """The shape (no batch axis) every image's tensor has under ``spec``, or None when it
    depends on the image (``shorter`` without a crop, ``dbnet``, ``height``)."""
    height_width: tuple[int, int] | None = None
    if spec.mode in ("shorter", "exact") and spec.crop is not None:
        height_width = spec.crop
    elif spec.mode == "exact" and isinstance(spec.resize, tuple):
        height_width = spec.resize
    elif spec.mode == "letterbox" and spec.resize is not None:
        target = spec.resize if isinstance(spec.resize, tuple) else (spec.resize, spec.resize)
        height_width = target
        if spec.crop is not None:
            height_width = (min(spec.crop[0], target[0]), min(spec.crop[1], target[1]))
    if height_width is None:
        return None
    height, width = height_width
    return (3, height, width) if spec.layout == "NCHW" else (height, width, 3)


def tensor_dtype(spec: PreprocessSpec) -> np.dtype[np.generic]:
    """The dtype of the tensors ``preprocess`` makes under ``spec``."""
    if spec.datatype == "UINT8":
        return np.dtype(np.uint8)
    return np.dtype(np.float16 if spec.datatype == "FP16" else np.float32)


def preprocess(image: Image.Image, spec: PreprocessSpec) -> Array:
    """One image's tensor, without the batch axis (``CHW`` or ``HWC``)."""
    if spec.mode == "letterbox":
        pixels = letterbox(image, spec)
    elif spec.mode in ("dbnet", "height"):
        pixels = np.asarray(_resized_for_text(image, spec))
    else:
        pixels = np.asarray(resize_and_crop(image, spec))
    if spec.color == "BGR":
        pixels = pixels[..., ::-1]
    if spec.datatype == "UINT8":
        tensor: Array = pixels
    else:
        mean = np.asarray(spec.mean, dtype=np.float32)
        inv_std = 1.0 / np.asarray(spec.std, dtype=np.float32)
        normalised = (pixels.astype(np.float32) - mean) * inv_std
        tensor = normalised.astype(tensor_dtype(spec), copy=False)
    if spec.mode == "height" and isinstance(spec.resize, tuple):
        # Pad on the right with the normalised zero (PaddleOCR's recogniser input).
        width = max(spec.resize[1], tensor.shape[1])
        width = -(-width // spec.width_step) * spec.width_step
        short = width - tensor.shape[1]
        if short > 0:
            tensor = np.pad(tensor, ((0, 0), (0, short), (0, 0)))
    if spec.layout == "NCHW":
        tensor = tensor.transpose(2, 0, 1)
    return np.ascontiguousarray(tensor)
