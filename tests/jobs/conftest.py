"""A small real photo set on disk: four JPEGs, a PNG in a sub-folder, and bad files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data


def jpeg(pixels: np.ndarray, size: tuple[int, int] | None = None) -> bytes:
    image = Image.fromarray(pixels)
    if size is not None:
        image = image.resize(size)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture
def photos(tmp_path: Path, cat_jpeg: bytes, coffee_png: bytes) -> Path:
    """``photos/``: a.jpg (cat), b.jpg (rocket), c/d.png (coffee), e.jpg (truncated),
    notes.txt (not an image: not listed)."""
    folder = tmp_path / "photos"
    (folder / "c").mkdir(parents=True)
    (folder / "a.jpg").write_bytes(cat_jpeg)
    (folder / "b.jpg").write_bytes(jpeg(data.rocket()))
    (folder / "c" / "d.png").write_bytes(coffee_png)
    (folder / "e.jpg").write_bytes(cat_jpeg[:400])
    (folder / "notes.txt").write_text("not an image")
    return folder
