"""Decoding: formats, modes, orientation, limits, and reduced-scale JPEG decode."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from tensorgate.errors import ImageError, ImageTooLargeError, UnsupportedImageError
from tensorgate.imaging.decode import decode_image, sniff_format
from tensorgate.imaging.spec import ImageLimits, PreprocessSpec
from tensorgate.imaging.transforms import preprocess

LIMITS = ImageLimits()


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "CMYK", "RGB"])
def test_every_mode_becomes_rgb(mode: str) -> None:
    source = Image.new("RGB", (40, 30), (200, 100, 50)).convert(mode)
    fmt = "JPEG" if mode in ("CMYK", "L") else "PNG"
    image = decode_image(encode(source, fmt), LIMITS)
    assert image.mode == "RGB"
    assert image.size == (40, 30)


def test_exif_orientation_is_applied() -> None:
    source = Image.new("RGB", (60, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    image = decode_image(encode(source, "JPEG", exif=exif), LIMITS)
    assert image.size == (20, 60)


def test_animated_webp_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 0, 255))]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    pixel = np.asarray(decode_image(data, LIMITS))[16, 16]
    assert tuple(pixel) == (255, 0, 0)


def test_jpeg_is_downscaled_inside_the_decoder_but_not_below_the_target() -> None:
    data = encode(Image.new("RGB", (2000, 1500), (10, 20, 30)), "JPEG")
    image = decode_image(data, LIMITS, min_side=256)
    assert image.size == (500, 375)  # 1/4 scale: the smallest DCT scale with a side >= 256
    assert min(image.size) >= 256


def test_preprocess_of_a_decoded_photo_matches_spec(chelsea: np.ndarray) -> None:
    spec = PreprocessSpec(resize=256, crop=(224, 224), mean=(127.0,) * 3, std=(128.0,) * 3)
    tensor = preprocess(Image.fromarray(chelsea), spec)
    assert tensor.shape == (3, 224, 224)
    assert tensor.dtype == np.float32
    assert tensor.min() >= -1.0
    assert tensor.max() <= 1.0
    nhwc = preprocess(
        Image.fromarray(chelsea), PreprocessSpec(layout="NHWC", color="BGR", datatype="UINT8")
    )
    assert nhwc.shape == (224, 224, 3)
    np.testing.assert_array_equal(
        nhwc[..., ::-1],
        preprocess(Image.fromarray(chelsea), PreprocessSpec(layout="NHWC", datatype="UINT8")),
    )


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"", ImageError, "image is empty (0 bytes)"),
        (b"BM" + bytes(100), UnsupportedImageError, "image format BMP is not supported"),
        (b"\x89PNG\r\n\x1a\n" + bytes(30), ImageError, "PNG image header is corrupt"),
        (
            b"hello world",
            ImageError,
            "data is not a JPEG, PNG or WebP image (first bytes 68656c6c6f20776f)",
        ),
    ],
)
def test_bad_data_raises_our_errors(data: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        decode_image(data, LIMITS)
    assert message in str(info.value)


def test_limits_are_checked_before_decoding() -> None:
    data = encode(Image.new("RGB", (300, 200)), "PNG")
    with pytest.raises(
        ImageTooLargeError, match="image is 300x200 = 60,000 pixels; the limit is 50,000"
    ):
        decode_image(data, ImageLimits(max_pixels=50_000))
    with pytest.raises(ImageTooLargeError, match="no side may exceed 250 pixels"):
        decode_image(data, ImageLimits(max_side=250))
    with pytest.raises(ImageError, match="both sides must be at least 201 pixels"):
        decode_image(data, ImageLimits(min_side=201))


def test_sniff_format() -> None:
    assert sniff_format(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "WEBP"
    assert sniff_format(b"RIFF\x00\x00\x00\x00WAVE") is None
    assert sniff_format(b"GIF89a") == "GIF"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_jpeg_orientation_matches_pillow(orientation: int, chelsea: np.ndarray) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(Image.fromarray(chelsea[:120, :200]), "JPEG", exif=exif, quality=95)
    ours = np.asarray(decode_image(data, LIMITS)).astype(int)
    pillow = np.asarray(
        ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    ).astype(int)
    assert ours.shape == pillow.shape
    assert np.abs(ours - pillow).max() <= 1


def test_sixteen_bit_grey_png_is_scaled_not_clipped() -> None:
    ramp = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(ramp).save(buffer, format="PNG")
    rgb = np.asarray(decode_image(buffer.getvalue(), LIMITS))
    assert rgb.dtype == np.uint8
    assert rgb[..., 0].max() == (int(ramp.max()) >> 8)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])


def test_palette_png_with_transparency() -> None:
    image = Image.new("P", (32, 32))
    image.putpalette([255, 0, 0] * 256)
    image.info["transparency"] = 0
    data = encode(image, "PNG", transparency=0)
    assert decode_image(data, LIMITS).mode == "RGB"


def test_letterbox_keeps_the_aspect_ratio_and_pads() -> None:
    image = Image.new("RGB", (400, 200), (10, 200, 30))
    spec = PreprocessSpec(
        resize=(128, 128), mode="letterbox", crop=None, datatype="UINT8", layout="NHWC", pad=7
    )
    tensor = preprocess(image, spec)
    assert tensor.shape == (128, 128, 3)
    assert (tensor[:32] == 7).all()  # 400x200 -> 128x64, centred: 32 pad rows above
    assert (tensor[96:] == 7).all()
    assert tuple(tensor[64, 64]) == (10, 200, 30)


def _with_segments(jpeg: bytes, *segments: bytes) -> bytes:
    """``jpeg`` with ``segments`` (marker and body, the length filled in) after its SOI."""
    made = b"".join(s[:2] + (len(s) - 2 + 2).to_bytes(2, "big") + s[2:] for s in segments)
    return jpeg[:2] + made + jpeg[2:]


def _exif(orientation: int, order: str, tags_before: int = 2, kind: int = 3) -> bytes:
    """An APP1 EXIF segment (marker and body) whose IFD0 has ``tags_before`` other tags
    and then the orientation, in byte order ``order`` (``<`` II, ``>`` MM)."""
    import struct

    entries = [struct.pack(order + "HHII", 0x010F + i, 2, 4, 0) for i in range(tags_before)]
    value = (
        struct.pack(order + "H", orientation) + b"\x00\x00"
        if kind == 3
        else struct.pack(order + "I", orientation)
    )
    entries.append(struct.pack(order + "HHI", 0x0112, kind, 1) + value)
    ifd = struct.pack(order + "H", len(entries)) + b"".join(entries) + b"\x00\x00\x00\x00"
    tiff = (b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, 8) + ifd
    return b"\xff\xe1" + b"Exif\x00\x00" + tiff


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_read_from_the_app1_segment_as_pillow_reads_it(
    order: str, orientation: int
) -> None:
    from tensorgate.imaging.decode import jpeg_geometry

    plain = encode(Image.new("RGB", (60, 20), (255, 0, 0)), "JPEG")
    jfif_first = _with_segments(plain, _exif(orientation, order))  # after Pillow's APP0
    for data in (jfif_first, _with_segments(plain, b"\xff\xfeExif\x00\x00 in a comment",
                                            _exif(orientation, order, kind=4))):  # fmt: skip
        with Image.open(io.BytesIO(data)) as opened:
            assert opened.getexif().get(0x0112) == orientation  # what Pillow reads
        assert jpeg_geometry(data, LIMITS)[2] == orientation
    # The signature outside an APP1 segment (a comment, the scan data) is not EXIF.
    commented = _with_segments(plain, b"\xff\xfeExif\x00\x00" + bytes(20))
    assert jpeg_geometry(commented, LIMITS)[2] == 1


def test_a_broken_exif_block_leaves_the_image_upright_and_decodable() -> None:
    from tensorgate.imaging.decode import jpeg_geometry

    plain = encode(Image.new("RGB", (60, 20), (255, 0, 0)), "JPEG")
    good = _exif(6, "<")
    rng = np.random.default_rng(0)
    for _ in range(300):  # cut short, or bytes flipped: never an exception, always 1–8
        cut = good[: int(rng.integers(2, len(good)))]
        flipped = bytearray(good)
        flipped[int(rng.integers(12, len(good)))] ^= int(rng.integers(1, 256))
        for segment in (cut, bytes(flipped)):
            assert 1 <= jpeg_geometry(_with_segments(plain, segment), LIMITS)[2] <= 8
    first = _exif(6, "<", tags_before=0)  # marker, Exif\0\0, TIFF header, then the count
    huge = first[:16] + b"\xff\xff" + first[18:]  # an IFD that claims 65,535 entries
    assert jpeg_geometry(_with_segments(plain, huge), LIMITS)[2] == 6  # read as far as it goes
    assert decode_image(_with_segments(plain, good[:20]), LIMITS).size == (60, 20)
