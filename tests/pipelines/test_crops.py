"""Crops: which regions are cut (threshold, cap on a flood), boxes with padding, and
quadrilaterals warped upright the way PaddleOCR / RapidOCR cut text lines."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tensorgate.pipelines.crops import chosen, cut, warp_quad
from tensorgate.repository.pipelines import CropStep
from tensorgate.tasks.results import Detection, TextRegion

STEP = CropStep("items", "found")


def detection(score: float, box: tuple[float, float, float, float] = (0, 0, 10, 10)) -> Detection:
    return Detection(box, score, 0, "0")


def test_regions_under_the_threshold_are_not_cropped() -> None:
    items = [detection(0.9), detection(0.2), detection(0.5)]
    assert chosen(items, CropStep("c", "f", score_threshold=0.5)) == [0, 2]


def test_a_flood_of_detections_is_cut_to_the_best_max_crops_in_order() -> None:
    rng = np.random.default_rng(0)
    scores = rng.random(5000)
    items = [detection(float(s)) for s in scores]
    picked = chosen(items, CropStep("c", "f", max_crops=100))
    assert len(picked) == 100
    assert picked == sorted(picked)
    assert set(picked) == set(np.argsort(-scores)[:100].tolist())


def gradient(width: int = 200, height: int = 100) -> Image.Image:
    x = np.arange(width, dtype=np.uint8)[None, :, None]
    y = np.arange(height, dtype=np.uint8)[:, None, None]
    pixels = np.concatenate(
        [np.broadcast_to(x, (height, width, 1)), np.broadcast_to(y, (height, width, 1))] * 2,
        axis=2,
    )[..., :3]
    return Image.fromarray(np.ascontiguousarray(pixels))


def test_a_box_is_cut_with_its_padding_and_clipped_to_the_image() -> None:
    image = gradient()
    crop = cut(image, detection(0.9, (10.0, 20.0, 50.0, 40.0)), STEP)
    assert crop is not None
    assert crop.size == (40, 20)
    assert np.asarray(crop)[0, 0, 0] == 10
    assert np.asarray(crop)[0, 0, 1] == 20
    padded = cut(image, detection(0.9, (0.0, 20.0, 40.0, 40.0)), CropStep("c", "f", padding=0.5))
    assert padded is not None
    assert padded.size == (60, 40)


def test_crops_under_the_minimum_size_are_skipped() -> None:
    assert cut(gradient(), detection(0.9, (10.0, 10.0, 13.0, 40.0)), STEP) is None
    region = TextRegion(((0, 0), (50, 0), (50, 2), (0, 2)), 0.9)
    assert cut(gradient(), region, STEP) is None


def test_an_upright_quadrilateral_is_the_plain_crop() -> None:
    pytest.importorskip("cv2")
    image = gradient()
    region = TextRegion(((20.0, 10.0), (120.0, 10.0), (120.0, 40.0), (20.0, 40.0)), 0.9)
    crop = cut(image, region, STEP)
    assert crop is not None
    assert crop.size == (100, 30)
    expected = np.asarray(image)[10:40, 20:120]
    assert np.abs(np.asarray(crop).astype(int) - expected).max() <= 1


def test_a_slanted_line_comes_out_level_and_a_tall_one_turned() -> None:
    pytest.importorskip("cv2")
    canvas = Image.new("RGB", (300, 300), "white")
    pixels = np.asarray(canvas).copy()
    pixels[100:120, 50:250] = 0  # a dark bar: a line of "text"
    image = Image.fromarray(pixels).rotate(10, center=(150, 110), fillcolor="white")
    angle = np.deg2rad(-10)  # Pillow turns counter-clockwise; the bar's corners follow
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = np.array([[50, 100], [250, 100], [250, 120], [50, 120]], dtype=np.float32)
    quad = (corners - [150, 110]) @ rotation.T + [150, 110]
    level = warp_quad(image, quad.astype(np.float32))
    assert level is not None
    assert level.size == (200, 20)
    assert np.asarray(level)[3:-3, 3:-3].mean() < 40  # all bar, no white corners
    tall = warp_quad(image, np.array([[0, 0], [20, 0], [20, 60], [0, 60]], np.float32))
    assert tall is not None
    assert tall.size == (60, 20)
