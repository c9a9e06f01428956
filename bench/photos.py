"""A calibration set of real photos, built offline from scikit-image's bundled data.

Eight colour photos (a cat, an espresso, an astronaut, a rocket, a motorbike, a retina,
a stained tissue, a deep-sky field) are few, so each gives several views: the whole photo
and crops of its centre and corners, each also mirrored. Views of one photo share
content, so agreement over them is an agreement over slightly different inputs, not
over independent scenes; docs/optimize.md says so.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

__all__ = ["PHOTOS", "write_calibration_set"]

PHOTOS: dict[str, Callable[[], np.ndarray]] = {
    "chelsea": data.chelsea,
    "coffee": data.coffee,
    "astronaut": data.astronaut,
    "rocket": data.rocket,
    "motorcycle": lambda: data.stereo_motorcycle()[0],
    "retina": data.retina,
    "hubble": data.hubble_deep_field,
    "immunohistochemistry": data.immunohistochemistry,
}


def _views(image: Image.Image) -> list[Image.Image]:
    w, h = image.size
    cw, ch = int(w * 0.75), int(h * 0.75)
    boxes = [
        (0, 0, w, h),
        ((w - cw) // 2, (h - ch) // 2, (w + cw) // 2, (h + ch) // 2),
        (0, 0, cw, ch),
        (w - cw, h - ch, w, h),
    ]
    crops = [image.crop(box) for box in boxes]
    return crops + [c.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for c in crops]


def write_calibration_set(directory: Path, count: int = 64) -> list[Path]:
    """Write up to ``count`` JPEG views (8 per photo, 64 in all) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, load in PHOTOS.items():
        pixels = load()[..., :3]
        image = Image.fromarray(np.ascontiguousarray(pixels)).convert("RGB")
        for index, view in enumerate(_views(image)):
            if len(written) >= count:
                return written
            path = directory / f"{name}-{index}.jpg"
            buffer = io.BytesIO()
            view.save(buffer, "JPEG", quality=92)
            path.write_bytes(buffer.getvalue())
            written.append(path)
    return written
