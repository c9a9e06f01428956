"""Vision tasks: one table entry per task and per decoder.

A model's ``config.yaml`` names its ``task`` (``classify`` unless it says otherwise) and,
under ``postprocess``, the ``decoder`` that turns one image's output row into the task's
answer. The manifest parser, the engine and the doors look both up here; adding a task
or a decoder adds an entry, not an ``if`` in five modules.

| task | decoders | preprocessing | answer |
| --- | --- | --- | --- |
| ``classify`` | ``topk`` | resize + centre crop | ``Classes`` |
| ``detect`` | ``yolov8`` | ``letterbox`` (boxes mapped back to the original) | ``Detections`` |
| ``embed`` | ``pooled`` | resize + centre crop | ``Embedding`` |
| ``text-detect`` | ``dbnet`` | ``dbnet`` (multiples of 32) | ``TextRegions`` |
| ``text-recognize`` | ``ctc`` | ``height`` (48 high, padded) | ``TextLine`` |
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tensorgate.errors import ConfigError
from tensorgate.imaging.geometry import ImageGeometry
from tensorgate.imaging.spec import PostprocessSpec
from tensorgate.postprocess import top_k
from tensorgate.tasks.ctc import decode_ctc
from tensorgate.tasks.dbnet import RegionParams, decode_dbnet
from tensorgate.tasks.pooled import decode_pooled
from tensorgate.tasks.results import (
    Classes,
    Detections,
    Embedding,
    TaskAnswer,
    TextLine,
    TextRegions,
)
from tensorgate.tasks.yolov8 import DetectParams, decode_yolov8
from tensorgate.types import Array, TensorSpec

__all__ = ["DECODERS", "TASKS", "Decoder", "Task", "decoder_named", "task_named"]

#: Decodes one image's output row: (row, geometry, spec, top-k override) → the answer.
DecodeFn = Callable[[Array, ImageGeometry, PostprocessSpec, int | None], TaskAnswer]
#: Decodes many images' output rows at once: (rows, geometries, spec, top-k) → answers.
DecodeRowsFn = Callable[
    [Array, Sequence[ImageGeometry], PostprocessSpec, int | None], list[TaskAnswer]
]
#: What is wrong with a model output for this decoder (None: it fits).
CheckFn = Callable[[TensorSpec, PostprocessSpec], str | None]


@dataclass(frozen=True, slots=True)
class Decoder:
    """How one family of model outputs becomes a task's answer.

    Attributes:
        name: the value of ``postprocess.decoder``.
        fields: the ``postprocess`` fields it reads (besides ``decoder``, ``output`` and
            ``labels``); any other field is refused when the config is read.
        heavy: run in the decode pool rather than on the event loop (NMS, contours).
        check: what is wrong with the model's output spec for it (None: nothing).
        decode: one image's output row → its answer.
        decode_rows: many images' rows (stacked) → their answers, in one vectorised
            step (None: ``decode`` row by row).
    """

    name: str
    fields: tuple[str, ...]
    heavy: bool
    check: CheckFn
    decode: DecodeFn
    decode_rows: DecodeRowsFn | None = None

    def decode_all(
        self,
        rows: Array,
        geometries: Sequence[ImageGeometry],
        spec: PostprocessSpec,
        top: int | None,
    ) -> list[TaskAnswer]:
        """Each image's answer from its row of ``rows`` (stacked, in order)."""
        if self.decode_rows is not None:
            return self.decode_rows(rows, geometries, spec, top)
        return [self.decode(r, g, spec, top) for r, g in zip(rows, geometries, strict=True)]


@dataclass(frozen=True, slots=True)
class Task:
    """One vision task.

    Attributes:
        name: the value of ``task`` in config.yaml.
        route: the image route's last segment (``/v2/models/{m}/<route>``).
        decoders: the decoders it accepts, the default first.
        modes: the ``preprocess.mode`` values it accepts.
    """

    name: str
    route: str
    decoders: tuple[str, ...]
    modes: tuple[str, ...]


def _check_topk(output: TensorSpec, spec: PostprocessSpec) -> str | None:
    classes = output.shape[-1] if output.shape else 0
    if len(output.shape) != 1:
        return f"is {list(output.shape)} per image; a classifier's output is [classes]"
    if spec.labels and classes != -1 and classes != len(spec.labels):
        return f"has {classes} classes but the labels file has {len(spec.labels)} lines"
    return None


def _decode_topk(row: Array, _: ImageGeometry, spec: PostprocessSpec, k: int | None) -> Classes:
    (best,) = top_k(row[np.newaxis], spec, k or spec.top_k)
    return Classes(tuple(best))


def _decode_topk_rows(
    rows: Array, _: Sequence[ImageGeometry], spec: PostprocessSpec, k: int | None
) -> list[TaskAnswer]:
    return [Classes(tuple(best)) for best in top_k(rows, spec, k or spec.top_k)]


def _check_yolov8(output: TensorSpec, spec: PostprocessSpec) -> str | None:
    if len(output.shape) != 2:
        return (
            f"is {list(output.shape)} per image; the yolov8 decoder reads [4 + classes, candidates]"
        )
    rows = output.shape[0]
    if rows != -1 and rows < 5:
        return f"has {rows} rows per candidate; yolov8 needs 4 box values + at least 1 class"
    if spec.labels and rows != -1 and rows - 4 != len(spec.labels):
        return f"has {rows - 4} classes but the labels file has {len(spec.labels)} lines"
    return None


def _decode_yolov8(
    row: Array, geometry: ImageGeometry, spec: PostprocessSpec, _: int | None
) -> Detections:
    params = DetectParams(
        score_threshold=spec.score_threshold,
        iou_threshold=spec.iou_threshold,
        max_detections=spec.max_detections,
        max_candidates=spec.max_candidates,
        class_agnostic=spec.class_agnostic,
    )
    return decode_yolov8(row, geometry, params, spec.labels)


def _check_pooled(output: TensorSpec, spec: PostprocessSpec) -> str | None:
    if not output.shape or output.shape[0] == -1:
        return f"is {list(output.shape)} per image; an embedding needs a known dimension first"
    return None


def _decode_pooled(row: Array, _: ImageGeometry, __: PostprocessSpec, ___: int | None) -> Embedding:
    return decode_pooled(row)


def _check_dbnet(output: TensorSpec, spec: PostprocessSpec) -> str | None:
    if len(output.shape) != 3 or output.shape[0] not in (1, -1):
        return f"is {list(output.shape)} per image; the dbnet decoder reads [1, height, width]"
    return None


def _decode_dbnet(
    row: Array, geometry: ImageGeometry, spec: PostprocessSpec, _: int | None
) -> TextRegions:
    params = RegionParams(
        threshold=spec.threshold,
        box_threshold=spec.box_threshold,
        unclip_ratio=spec.unclip_ratio,
        max_candidates=spec.max_candidates,
    )
    return decode_dbnet(row, geometry, params)


def _check_ctc(output: TensorSpec, spec: PostprocessSpec) -> str | None:
    if len(output.shape) != 2:
        return f"is {list(output.shape)} per line; the ctc decoder reads [steps, classes]"
    classes = output.shape[1]
    if not spec.labels:
        return "has no dictionary: give labels, or a model with 'character' metadata"
    if classes != -1 and classes != len(spec.labels):
        return (
            f"has {classes} classes but the dictionary has {len(spec.labels)} entries "
            "(blank first and space last included)"
        )
    return None


def _decode_ctc(row: Array, _: ImageGeometry, spec: PostprocessSpec, __: int | None) -> TextLine:
    return decode_ctc(row, spec.labels)


#: Every decoder by its config name.
DECODERS: dict[str, Decoder] = {
    d.name: d
    for d in (
        Decoder("topk", ("softmax", "top_k"), False, _check_topk, _decode_topk, _decode_topk_rows),
        Decoder(
            "yolov8",
            (
                "score_threshold",
                "iou_threshold",
                "max_detections",
                "max_candidates",
                "class_agnostic",
            ),
            True,
            _check_yolov8,
            _decode_yolov8,
        ),
        Decoder("pooled", (), False, _check_pooled, _decode_pooled),
        Decoder(
            "dbnet",
            ("threshold", "box_threshold", "unclip_ratio", "max_candidates"),
            True,
            _check_dbnet,
            _decode_dbnet,
        ),
        Decoder("ctc", (), False, _check_ctc, _decode_ctc),
    )
}

#: Every task by its config name.
TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("classify", "classify", ("topk",), ("shorter", "exact", "letterbox")),
        Task("detect", "detect", ("yolov8",), ("letterbox", "exact")),
        Task("embed", "embed", ("pooled",), ("shorter", "exact", "letterbox")),
        Task("text-detect", "text-detect", ("dbnet",), ("dbnet",)),
        Task("text-recognize", "text-recognize", ("ctc",), ("height",)),
    )
}


def task_named(name: str) -> Task:
    """The task called ``name``.

    Raises:
        ConfigError: no task has that name.
    """
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"task {name!r} is not known; tasks: {', '.join(TASKS)}") from None


def decoder_named(name: str) -> Decoder:
    """The decoder called ``name``.

    Raises:
        ConfigError: no decoder has that name.
    """
    try:
        return DECODERS[name]
    except KeyError:
        raise ConfigError(
            f"decoder {name!r} is not known; decoders: {', '.join(DECODERS)}"
        ) from None
