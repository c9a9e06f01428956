"""The ``yolov8`` decoder: ``[4 + classes, candidates]`` → boxes, pure numpy.

The layout most detectors users bring export (Ultralytics YOLOv5u / v8 / v11 heads
without NMS): per candidate, the box centre, width and height in model-input pixels,
then one score per class (already sigmoid). The decoder keeps candidates whose best
class scores at least ``score_threshold``, caps them at ``max_candidates`` (the best
ones), suppresses overlaps greedily by IoU — per class unless ``class_agnostic`` — and
keeps at most ``max_detections``. Candidates with a NaN or infinite value are dropped;
an output that is NaN everywhere is an error, not an empty answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tensorgate.errors import InferenceError
from tensorgate.imaging.geometry import ImageGeometry
from tensorgate.tasks.results import Detection, Detections
from tensorgate.types import Array

__all__ = ["DetectParams", "decode_yolov8", "nms"]


@dataclass(frozen=True, slots=True)
class DetectParams:
    """The decoder's knobs (``postprocess`` in config.yaml).

    Attributes:
        score_threshold: the lowest class score kept (0–1).
        iou_threshold: overlap above which the lower-scoring box is suppressed.
        max_detections: boxes answered at most, per image.
        max_candidates: candidates that reach NMS at most (the best ones): a head that
            floods every anchor with a high score costs bounded time.
        class_agnostic: suppress overlaps across classes too.
    """

    score_threshold: float = 0.25
    iou_threshold: float = 0.45
    max_detections: int = 100
    max_candidates: int = 3000
    class_agnostic: bool = False


def nms(boxes: Array, scores: Array, iou_threshold: float, limit: int) -> Array:
    """Greedy non-maximum suppression over xyxy ``boxes``; indices kept, best first.

    Stops once ``limit`` boxes are kept, so its cost is at most ``limit`` passes over
    the candidates.
    """
    order = np.argsort(-scores, kind="stable")
    areas = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    kept: list[int] = []
    while order.size and len(kept) < limit:
        best = int(order[0])
        kept.append(best)
        rest = order[1:]
        left = np.maximum(boxes[best, 0], boxes[rest, 0])
        top = np.maximum(boxes[best, 1], boxes[rest, 1])
        right = np.minimum(boxes[best, 2], boxes[rest, 2])
        bottom = np.minimum(boxes[best, 3], boxes[rest, 3])
        overlap = np.maximum(right - left, 0) * np.maximum(bottom - top, 0)
        union = areas[best] + areas[rest] - overlap
        iou = np.divide(overlap, union, out=np.zeros_like(overlap), where=union > 0)
        order = rest[iou <= iou_threshold]
    return np.asarray(kept, dtype=np.int64)


def decode_yolov8(
    output: Array, geometry: ImageGeometry, params: DetectParams, labels: tuple[str, ...]
) -> Detections:
    """One image's ``[4 + classes, candidates]`` output → its detections.

    Raises:
        InferenceError: the output is not 2-D with at least 5 rows, or every value of
            it is NaN or infinite (a broken model; nothing to answer from).
    """
    if output.ndim != 2 or output.shape[0] < 5:
        raise InferenceError(
            f"a yolov8 output must be [4 + classes, candidates] per image, got {list(output.shape)}"
        )
    values = output.astype(np.float32, copy=False)
    finite = np.isfinite(values).all(axis=0)
    if values.shape[1] and not finite.any():
        raise InferenceError(
            f"the detector returned no finite value among {values.shape[1]:,} candidates "
            "(NaN or infinite everywhere); the model or its input is broken"
        )
    values = values[:, finite]
    scores = values[4:]
    classes = scores.argmax(axis=0)
    best = scores[classes, np.arange(scores.shape[1])]
    keep = best >= params.score_threshold
    values, classes, best = values[:, keep], classes[keep], best[keep]
    if best.size > params.max_candidates:
        top = np.argpartition(-best, params.max_candidates - 1)[: params.max_candidates]
        values, classes, best = values[:, top], classes[top], best[top]
    cx, cy, w, h = values[0], values[1], values[2], values[3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    if params.class_agnostic or boxes.shape[0] == 0:
        shifted = boxes
    else:
        # Class-aware NMS in one pass: boxes of different classes never overlap once each
        # class is moved to its own region of the plane.
        span = float(np.abs(boxes).max()) + 1.0
        shifted = boxes + (classes.astype(np.float32) * 2 * span)[:, None]
    kept = nms(shifted, best, params.iou_threshold, params.max_detections)
    original = geometry.to_original(boxes[kept]) if kept.size else np.zeros((0, 4), np.float32)
    items = []
    for row, index in enumerate(kept):
        klass = int(classes[index])
        box = original[row]
        items.append(
            Detection(
                box=(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
                score=float(best[index]),
                index=klass,
                label=labels[klass] if klass < len(labels) else str(klass),
            )
        )
    return Detections(geometry.width, geometry.height, tuple(items))
