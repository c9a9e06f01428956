"""A small real photo set on disk: four JPEGs, a PNG in a sub-folder, and bad files."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
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


@pytest.fixture(scope="session")
def local_ray() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    yield
    if ray.is_initialized():
        ray.shutdown()


@pytest.fixture(scope="session")
def local_spark() -> Iterator[None]:
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17: apt-get install openjdk-17-jre-headless")
    yield
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is not None:
        session.stop()
