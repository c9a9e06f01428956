"""Thousands of mutated JPEG / PNG / WebP files through decode and preprocess: no crash,
no hang, only our own 4xx error types. Deterministic (seeded mutations)."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image

from tensorgate.errors import ImageError
from tensorgate.imaging.decode import decode_image
from tensorgate.imaging.spec import ImageLimits, PreprocessSpec
from tensorgate.imaging.transforms import preprocess

SPEC = PreprocessSpec(resize=64, crop=(56, 56), mean=(127.0,) * 3, std=(128.0,) * 3)
LIMITS = ImageLimits()


def seed_image(fmt: str) -> bytes:
    rng = np.random.default_rng(5)
    pixels = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    options = {"quality": 80} if fmt in ("JPEG", "WEBP") else {}
    Image.fromarray(pixels).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        roll = rng.random()
        position = rng.randrange(len(out)) if out else 0
        if roll < 0.5 and out:
            out[position] = rng.randrange(256)
        elif roll < 0.65 and out:
            del out[position:]
        elif roll < 0.8:
            out[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif out:
            span = rng.randint(1, 64)
            out[position : position + span] = b"\xff" * span
    return bytes(out)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_mutated_images_raise_only_image_errors(fmt: str) -> None:
    rng = random.Random(fmt)
    original = seed_image(fmt)
    decoded = refused = 0
    for _ in range(1200):
        data = mutate(original, rng)
        try:
            tensor = preprocess(decode_image(data, LIMITS, min_side=64), SPEC)
        except ImageError:
            refused += 1
            continue
        assert tensor.shape == (3, 56, 56)
        assert np.isfinite(tensor).all()
        decoded += 1
    assert refused > 0
    assert decoded + refused == 1200
