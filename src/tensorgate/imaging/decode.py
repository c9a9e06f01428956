"""Decode an encoded image into an RGB Pillow image, safely and small.

Limits are checked from the header, before any pixel is allocated. JPEGs are decoded at
reduced scale inside the decoder (libjpeg's DCT scaling via Pillow's ``draft``) down to
no less than the size preprocessing needs. EXIF orientation is applied and every mode is
converted to RGB; animated images give their first frame.
"""

from __future__ import annotations

import io
import math

from PIL import Image, ImageOps, UnidentifiedImageError

from tensorgate.errors import ImageError, ImageTooLargeError, UnsupportedImageError
from tensorgate.imaging.spec import ImageLimits

__all__ = ["decode_image", "sniff_format"]

_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"WEBP", 8, "WEBP"),
    (b"GIF87a", 0, "GIF"),
    (b"GIF89a", 0, "GIF"),
    (b"BM", 0, "BMP"),
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"ftypavif", 4, "AVIF"),
    (b"ftypheic", 4, "HEIC"),
    (b"\x00\x00\x00\x0cjP  ", 0, "JPEG2000"),
    (b"%PDF", 0, "PDF"),
)


def sniff_format(data: bytes) -> str | None:
    """The image format named by the first bytes, or None if they name none we know."""
    for magic, offset, name in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            if name == "WEBP" and data[:4] != b"RIFF":
                continue
            return name
    return None


def _check_size(width: int, height: int, limits: ImageLimits) -> None:
    if width * height > limits.max_pixels:
        raise ImageTooLargeError(
            f"image is {width}x{height} = {width * height:,} pixels; the limit is "
            f"{limits.max_pixels:,}: downscale it before sending"
        )
    if max(width, height) > limits.max_side:
        raise ImageTooLargeError(
            f"image is {width}x{height}; no side may exceed {limits.max_side} pixels"
        )
    if min(width, height) < limits.min_side:
        raise ImageError(
            f"image is {width}x{height}; both sides must be at least {limits.min_side} pixels"
        )


def decode_image(data: bytes, limits: ImageLimits, min_side: int = 0) -> Image.Image:
    """Decode ``data`` into an RGB image whose shorter side is at least ``min_side``
    (where the source is that large); JPEGs are downscaled inside the decoder.

    Raises:
        ImageError: empty, corrupt or truncated data, or an image below the minimum size.
        UnsupportedImageError: a format other than those in ``limits.formats``.
        ImageTooLargeError: more pixels, or a longer side, than the limits allow.
    """
    if not data:
        raise ImageError("image is empty (0 bytes); send the encoded file as the body")
    kind = sniff_format(data)
    if kind is None:
        raise ImageError(
            f"data is not a JPEG, PNG or WebP image (first bytes {data[:8].hex()}); "
            "send the encoded file's bytes unchanged"
        )
    if kind not in limits.formats:
        raise UnsupportedImageError(
            f"image format {kind} is not supported; send one of {', '.join(limits.formats)}"
        )
    try:
        opened = Image.open(io.BytesIO(data), formats=[kind])
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"{kind} image header is corrupt: {exc}") from None
    width, height = opened.size
    _check_size(width, height, limits)
    try:
        if kind == "JPEG" and min_side > 0 and min(width, height) > min_side:
            scale = min_side / min(width, height)
            opened.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
        opened.load()
        image: Image.Image = ImageOps.exif_transpose(opened) or opened
        if image.mode != "RGB":
            image = image.convert("RGB")
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageError(f"{kind} image data is truncated or corrupt: {exc}") from None
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"image is too large to decode: {exc}") from None
    return image
