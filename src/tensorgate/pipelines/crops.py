"""Cut the crops a ``crop`` step fans out: boxes with padding, quadrilaterals through a
perspective warp (as PaddleOCR / RapidOCR cut text lines), skipping what is too small.

Coordinates are original-image pixels, so the image cropped must be the upright
original at full size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from tensorgate.repository.pipelines import CropStep
from tensorgate.tasks.results import Detection, TextRegion

__all__ = ["Region", "chosen", "cut", "warp_quad"]

Region = Detection | TextRegion


def chosen(items: Sequence[Region], step: CropStep) -> list[int]:
    """The indices of the regions to crop: those scoring at least the threshold, the
    ``max_crops`` best of them, in their original order (a flood of detections is cut
    down here, before any pixel is copied)."""
    passing = [i for i, item in enumerate(items) if item.score >= step.score_threshold]
    if len(passing) > step.max_crops:
        passing = sorted(passing, key=lambda i: -items[i].score)[: step.max_crops]
    return sorted(passing)


def cut(image: Image.Image, item: Region, step: CropStep) -> Image.Image | None:
    """The crop of one region (None when a side is under ``step.min_size`` pixels)."""
    if isinstance(item, Detection):
        left, top, right, bottom = item.box
        pad_x, pad_y = (right - left) * step.padding, (bottom - top) * step.padding
        box = (
            max(0, int(np.floor(left - pad_x))),
            max(0, int(np.floor(top - pad_y))),
            min(image.width, int(np.ceil(right + pad_x))),
            min(image.height, int(np.ceil(bottom + pad_y))),
        )
        if min(box[2] - box[0], box[3] - box[1]) < step.min_size:
            return None
        return image.crop(box)
    return warp_quad(image, np.asarray(item.polygon, dtype=np.float32), step.min_size)


def warp_quad(image: Image.Image, quad: np.ndarray, min_size: int = 1) -> Image.Image | None:
    """Warp the quadrilateral ``quad`` (4 × xy, clockwise from the top-left) to an
    upright rectangle: its width the longer of its top and bottom edges, its height the
    longer of its sides; bicubic, borders replicated; a crop 1.5 times taller than wide
    is turned a quarter left (a vertical line read as horizontal). None when a side is
    under ``min_size`` pixels."""
    import cv2  # the text extra: a text region crop needs it, nothing else does

    width = int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3])))
    height = int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))
    if min(width, height) < min_size:
        return None
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    pixels = cv2.warpPerspective(
        np.asarray(image),
        matrix,
        (width, height),
        borderMode=cv2.BORDER_REPLICATE,
        flags=cv2.INTER_CUBIC,
    )
    if height / width >= 1.5:
        pixels = np.rot90(pixels)
    return Image.fromarray(np.ascontiguousarray(pixels))
