"""The yolov8 decoder on synthetic heads: the edge cases a real model rarely shows."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tensorgate.errors import InferenceError
from tensorgate.imaging.geometry import ImageGeometry
from tensorgate.tasks.yolov8 import DetectParams, decode_yolov8, nms

IDENTITY = ImageGeometry(640, 640)
LABELS = ("cat", "dog", "car")


def head(
    *candidates: tuple[float, float, float, float, int, float], classes: int = 3
) -> np.ndarray:
    """``[4 + classes, N]`` from (cx, cy, w, h, class, score) tuples."""
    out = np.zeros((4 + classes, len(candidates)), np.float32)
    for i, (cx, cy, w, h, klass, score) in enumerate(candidates):
        out[:4, i] = (cx, cy, w, h)
        out[4 + klass, i] = score
    return out


def test_no_candidates_is_an_empty_answer() -> None:
    answer = decode_yolov8(np.zeros((7, 0), np.float32), IDENTITY, DetectParams(), LABELS)
    assert answer.items == ()
    assert (answer.width, answer.height, answer.box_format) == (640, 640, "xyxy")


def test_nothing_above_the_threshold_is_an_empty_answer() -> None:
    out = head((100, 100, 50, 50, 0, 0.2), (300, 300, 50, 50, 1, 0.1))
    assert decode_yolov8(out, IDENTITY, DetectParams(score_threshold=0.25), LABELS).items == ()


def test_boxes_come_back_as_xyxy_with_labels_best_first() -> None:
    out = head((100, 120, 40, 60, 1, 0.6), (400, 300, 100, 50, 2, 0.9))
    items = decode_yolov8(out, IDENTITY, DetectParams(), LABELS).items
    assert [(d.label, d.index) for d in items] == [("car", 2), ("dog", 1)]
    assert items[0].box == (350.0, 275.0, 450.0, 325.0)
    assert items[1].box == (80.0, 90.0, 120.0, 150.0)
    assert items[0].score == pytest.approx(0.9)


def test_overlapping_boxes_of_one_class_leave_the_best() -> None:
    out = head(*[(200 + i, 200, 100, 100, 0, 0.5 + i / 100) for i in range(20)])
    (only,) = decode_yolov8(out, IDENTITY, DetectParams(), LABELS).items
    assert only.score == pytest.approx(0.69)


def test_nms_is_per_class_unless_agnostic() -> None:
    out = head((200, 200, 100, 100, 0, 0.9), (202, 200, 100, 100, 1, 0.8))
    aware = decode_yolov8(out, IDENTITY, DetectParams(), LABELS).items
    assert [d.label for d in aware] == ["cat", "dog"]
    agnostic = decode_yolov8(out, IDENTITY, DetectParams(class_agnostic=True), LABELS).items
    assert [d.label for d in agnostic] == ["cat"]


def test_a_flood_of_candidates_is_capped_and_fast() -> None:
    rng = np.random.default_rng(0)
    out = np.empty((84, 8400), np.float32)  # the COCO head at 640²: 80 classes
    out[:2] = rng.uniform(0, 640, (2, 8400))
    out[2:4] = rng.uniform(5, 200, (2, 8400))
    out[4:] = rng.uniform(0.3, 1.0, (80, 8400))  # every anchor fires
    started = time.perf_counter()
    answer = decode_yolov8(out, IDENTITY, DetectParams(max_detections=100), ())
    elapsed = time.perf_counter() - started
    assert len(answer.items) == 100
    assert answer.items[0].label == str(answer.items[0].index)  # no labels: the index
    assert elapsed < 5.0  # bounded work (max_candidates), not a benchmark
    scores = [d.score for d in answer.items]
    assert scores == sorted(scores, reverse=True)


def test_nan_candidates_are_dropped_and_an_all_nan_head_is_an_error() -> None:
    out = head((100, 100, 40, 40, 0, 0.9), (300, 300, 40, 40, 1, 0.8))
    out[5, 1] = np.nan
    (kept,) = decode_yolov8(out, IDENTITY, DetectParams(), LABELS).items
    assert kept.label == "cat"
    with pytest.raises(InferenceError, match="no finite value among 2 candidates"):
        decode_yolov8(np.full((7, 2), np.nan, np.float32), IDENTITY, DetectParams(), LABELS)


def test_a_head_of_the_wrong_shape_is_an_error() -> None:
    with pytest.raises(InferenceError, match=r"must be \[4 \+ classes, candidates\]"):
        decode_yolov8(np.zeros((4, 10), np.float32), IDENTITY, DetectParams(), LABELS)


def test_boxes_map_back_through_the_letterbox_and_are_clipped() -> None:
    # A 1280x640 photo letterboxed into 640x640: half scale, 160 px of padding on top.
    geometry = ImageGeometry(1280, 640, 0.5, 0.5, 0.0, 160.0)
    out = head((320, 320, 100, 50, 0, 0.9), (630, 200, 100, 100, 1, 0.8))
    near, edge = decode_yolov8(out, geometry, DetectParams(), LABELS).items
    assert near.box == (540.0, 270.0, 740.0, 370.0)
    assert edge.box == (1160.0, 0.0, 1280.0, 180.0)  # clipped to the image


def test_nms_stops_at_the_limit() -> None:
    boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]], np.float32)
    kept = nms(boxes, np.array([0.5, 0.9, 0.7], np.float32), 0.5, 2)
    assert kept.tolist() == [1, 2]
