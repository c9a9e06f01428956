"""The ``dbnet`` decoder: a text-probability map → four-point text regions.

Differentiable Binarization (PP-OCR's detector): threshold the map, find the contours
of the text blobs (OpenCV), keep each blob's minimum-area rectangle if its mean
probability reaches ``box_threshold``, grow it by ``unclip_ratio`` (pyclipper's offset by
area × ratio / perimeter, shapely for the polygon's measures), take the grown shape's
minimum-area rectangle, and map its corners back to the original image. Needs the
``text`` extra (opencv-python-headless, pyclipper, shapely), imported when used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tensorgate.errors import InferenceError
from tensorgate.imaging.geometry import ImageGeometry
from tensorgate.tasks.results import TextRegion, TextRegions
from tensorgate.types import Array

__all__ = ["RegionParams", "decode_dbnet", "reading_order"]

_MIN_SIDE = 3.0
_SAME_LINE_PX = 10.0


@dataclass(frozen=True, slots=True)
class RegionParams:
    """The decoder's knobs (``postprocess`` in config.yaml; PP-OCR's defaults).

    Attributes:
        threshold: the probability above which a pixel is text.
        box_threshold: the mean probability a region needs inside its rectangle.
        unclip_ratio: how far a region grows back out (DBNet shrinks text when trained).
        max_candidates: blobs examined at most, per image.
    """

    threshold: float = 0.3
    box_threshold: float = 0.5
    unclip_ratio: float = 1.6
    max_candidates: int = 1000


def _cv2() -> Any:
    try:
        import cv2
    except ImportError:
        raise InferenceError(
            "text models need OpenCV, pyclipper and shapely: pip install 'tensorgate[text]'"
        ) from None
    return cv2


def _corners(cv2: Any, points: Array) -> tuple[Array, float]:
    """The minimum-area rectangle of ``points``: its corners clockwise from the
    top-left, and its shorter side."""
    rect = cv2.minAreaRect(points.astype(np.float32))
    corners = cv2.boxPoints(rect)
    by_x = corners[np.argsort(corners[:, 0], kind="stable")]
    left, right = by_x[:2], by_x[2:]
    top_left, bottom_left = left[np.argsort(left[:, 1], kind="stable")]
    top_right, bottom_right = right[np.argsort(right[:, 1], kind="stable")]
    ordered = np.array([top_left, top_right, bottom_right, bottom_left], np.float32)
    return ordered, float(min(rect[1]))


def _mean_inside(cv2: Any, probability: Array, corners: Array) -> float:
    """Mean probability inside the polygon, over its bounding box only (fast)."""
    height, width = probability.shape
    left = int(np.clip(np.floor(corners[:, 0].min()), 0, width - 1))
    right = int(np.clip(np.ceil(corners[:, 0].max()), 0, width - 1))
    top = int(np.clip(np.floor(corners[:, 1].min()), 0, height - 1))
    bottom = int(np.clip(np.ceil(corners[:, 1].max()), 0, height - 1))
    mask = np.zeros((bottom - top + 1, right - left + 1), np.uint8)
    shifted = corners - np.array([left, top], np.float32)
    cv2.fillPoly(mask, [shifted.astype(np.int32)], 1)
    return float(cv2.mean(probability[top : bottom + 1, left : right + 1], mask)[0])


def _unclip(corners: Array, ratio: float) -> Array | None:
    import pyclipper
    from shapely.geometry import Polygon

    polygon = Polygon(corners)
    if polygon.length == 0:
        return None
    distance = polygon.area * ratio / polygon.length
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(corners.tolist(), pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    grown = offset.Execute(distance)
    if len(grown) != 1:
        return None
    return np.asarray(grown[0], np.float32)


def reading_order(regions: list[TextRegion]) -> list[TextRegion]:
    """Top to bottom; regions whose tops are within 10 px are one line, left to right."""
    by_top = sorted(regions, key=lambda r: r.polygon[0][1])
    lines: list[list[TextRegion]] = []
    previous: float | None = None
    for region in by_top:
        top = region.polygon[0][1]
        if previous is None or top - previous >= _SAME_LINE_PX:
            lines.append([])
        lines[-1].append(region)
        previous = top
    return [r for line in lines for r in sorted(line, key=lambda r: r.polygon[0][0])]


def decode_dbnet(probability: Array, geometry: ImageGeometry, params: RegionParams) -> TextRegions:
    """One image's probability map (``(H, W)`` or ``(1, H, W)``) → its text regions.

    Raises:
        InferenceError: the map is not 2-D (or 1 × H × W), or has NaN / infinite values.
    """
    cv2 = _cv2()
    probability = np.asarray(probability, np.float32)
    if probability.ndim == 3 and probability.shape[0] == 1:
        probability = probability[0]
    if probability.ndim != 2:
        raise InferenceError(
            f"a dbnet output must be [1, height, width] per image, got {list(probability.shape)}"
        )
    if not np.isfinite(probability).all():
        raise InferenceError("the text map has NaN or infinite values; the model is broken")
    mask = cv2.dilate((probability > params.threshold).astype(np.uint8), np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(mask * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    regions: list[TextRegion] = []
    for contour in contours[: params.max_candidates]:
        corners, side = _corners(cv2, contour.reshape(-1, 2))
        if side < _MIN_SIDE:
            continue
        score = _mean_inside(cv2, probability, corners)
        if score < params.box_threshold:
            continue
        grown = _unclip(corners, params.unclip_ratio)
        if grown is None:
            continue
        corners, side = _corners(cv2, grown)
        if side < _MIN_SIDE + 2:
            continue
        original = np.round(geometry.points_to_original(corners))
        if np.ptp(original[:, 0]) <= 3 or np.ptp(original[:, 1]) <= 3:
            continue
        polygon = tuple((float(x), float(y)) for x, y in original)
        regions.append(TextRegion(polygon, score))
    return TextRegions(geometry.width, geometry.height, tuple(reading_order(regions)))
