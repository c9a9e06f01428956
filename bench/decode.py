"""Decode + preprocess images/s on one thread: tensorgate's path against plain Pillow.

    .venv/bin/python -m bench.decode [--seconds 3]

For 0.3, 1.5 and 12 MP JPEGs and a 1.5 MP PNG (skimage's chelsea, resized; and a 1.5 MP
mosaic of scikit-image photos at native resolution, as detailed as a real photo), side by side
in one run: plain Pillow (open, convert RGB, resize the shorter side to 256 bilinear,
centre crop 224, normalise), Pillow with ``draft`` (DCT scaling), and tensorgate's
``decode_image`` + ``preprocess`` (libjpeg-turbo scaling through simplejpeg, one-pass
resize + crop). Prints a Markdown table with the speed-up over plain Pillow.

Then the header read alone (size and EXIF orientation, before any pixel), µs per JPEG
with and without an EXIF block: tensorgate's ``jpeg_geometry`` against Pillow opening
the file and reading its EXIF (what it did before reading the APP1 segment itself).
"""

from __future__ import annotations

import argparse
import io
import math
import time
from collections.abc import Callable

import numpy as np
from PIL import Image
from skimage import data

from tensorgate.imaging.decode import decode_image, jpeg_geometry
from tensorgate.imaging.spec import ImageLimits, PreprocessSpec
from tensorgate.imaging.transforms import preprocess

SPEC = PreprocessSpec(resize=256, crop=(224, 224), mean=(127.0,) * 3, std=(128.0,) * 3)
LIMITS = ImageLimits()


def mosaic_jpeg() -> bytes:
    """1500×1000 of real photos at their native resolution (scikit-image's astronaut,
    coffee, chelsea, rocket, camera, Hubble deep field): the detail, and so the entropy
    decoding cost, of a real 1.5 MP photo, which an upscaled photo lacks."""
    tiles = [
        data.astronaut(), data.coffee(), data.chelsea(), data.rocket(),
        np.stack([data.camera()] * 3, axis=-1), data.hubble_deep_field()[..., :3],
    ]  # fmt: skip
    canvas = np.zeros((1000, 1500, 3), np.uint8)
    x = y = row = 0
    for tile in tiles:
        h, w = min(tile.shape[0], 1000 - y), min(tile.shape[1], 1500 - x)
        canvas[y : y + h, x : x + w] = tile[:h, :w, :3]
        x, row = x + tile.shape[1], max(row, tile.shape[0])
        if x >= 1500:
            x, y, row = 0, y + row, 0
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def encoded(size: tuple[int, int], fmt: str) -> bytes:
    image = Image.fromarray(data.chelsea()).resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def normalise(image: Image.Image) -> np.ndarray:
    pixels = np.asarray(image, dtype=np.float32)
    return ((pixels - 127.0) / 128.0).transpose(2, 0, 1)


def plain_pillow(blob: bytes, draft: bool = False) -> np.ndarray:
    image: Image.Image = Image.open(io.BytesIO(blob))
    if draft and image.format == "JPEG":
        scale = 256 / min(image.size)
        image.draft("RGB", (math.ceil(image.width * scale), math.ceil(image.height * scale)))
    image = image.convert("RGB")
    scale = 256 / min(image.size)
    image = image.resize(
        (round(image.width * scale), round(image.height * scale)), Image.Resampling.BILINEAR
    )
    left, top = (image.width - 224) // 2, (image.height - 224) // 2
    return normalise(image.crop((left, top, left + 224, top + 224)))


def tensorgate_path(blob: bytes) -> np.ndarray:
    return preprocess(decode_image(blob, LIMITS, SPEC.min_decode_side), SPEC)


def rate(fn: Callable[[bytes], object], blob: bytes, seconds: float) -> float:
    fn(blob)
    count = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        fn(blob)
        count += 1
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    cases = [
        ("0.3 MP JPEG (640×480)", encoded((640, 480), "JPEG")),
        ("1.5 MP JPEG (1500×1000, upscaled chelsea)", encoded((1500, 1000), "JPEG")),
        ("1.5 MP JPEG (1500×1000, mosaic of real photos)", mosaic_jpeg()),
        ("12 MP JPEG (4000×3000)", encoded((4000, 3000), "JPEG")),
        ("1.5 MP PNG (1500×1000)", encoded((1500, 1000), "PNG")),
    ]
    # Steady state for every contender: glibc raises its mmap threshold after the first
    # large free, which makes plain Pillow's full-size decode ~1.7x faster than in a
    # fresh process (page faults). Measure everyone after that has happened.
    plain_pillow(cases[3][1])
    print("| image | plain Pillow | Pillow + draft | tensorgate | tensorgate / plain |")
    print("| --- | --- | --- | --- | --- |")
    for name, blob in cases:
        plain = rate(plain_pillow, blob, args.seconds)
        draft = rate(lambda b: plain_pillow(b, draft=True), blob, args.seconds)
        ours = rate(tensorgate_path, blob, args.seconds)
        print(
            f"| {name} | {plain:.1f}/s | {draft:.1f}/s | {ours:.1f}/s | **{ours / plain:.2f}×** |"
        )
    header_table(args.seconds / 3)


def pillow_header(blob: bytes) -> tuple[int, int, int]:
    """Size and EXIF orientation as Pillow reads them (the header read it replaced)."""
    with Image.open(io.BytesIO(blob), formats=["JPEG"]) as opened:
        return opened.width, opened.height, int(opened.getexif().get(0x0112, 1))


def header_table(seconds: float) -> None:
    photo = mosaic_jpeg()
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.open(io.BytesIO(photo)).save(buffer, format="JPEG", quality=90, exif=exif)
    print()
    print("| header of a 1.5 MP JPEG | Pillow open + getexif | tensorgate jpeg_geometry | ratio |")
    print("| --- | --- | --- | --- |")
    for name, blob in (("no EXIF", photo), ("EXIF, orientation 6", buffer.getvalue())):
        assert pillow_header(blob) == jpeg_geometry(blob, LIMITS)
        theirs = 1e6 / rate(pillow_header, blob, seconds)
        ours = 1e6 / rate(lambda b: jpeg_geometry(b, LIMITS), blob, seconds)
        print(f"| {name} | {theirs:.1f} µs | {ours:.1f} µs | **{theirs / ours:.1f}×** |")


if __name__ == "__main__":
    main()
