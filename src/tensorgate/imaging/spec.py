"""What a model expects of an image, and what to make of its output: plain data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ImageLimits", "PostprocessSpec", "PreprocessSpec"]

ResizeMode = Literal["shorter", "exact", "letterbox", "dbnet", "height"]
Layout = Literal["NCHW", "NHWC"]
ColorOrder = Literal["RGB", "BGR"]


@dataclass(frozen=True, slots=True)
class PreprocessSpec:
    """How to turn a decoded RGB image into a model input tensor.

    Attributes:
        input: the model input the tensor feeds (None: the model's first input).
        resize: target size: the shorter side (``mode="shorter"``) or ``(height, width)``
            for ``mode="exact"`` and ``mode="letterbox"``.
        mode: ``shorter`` keeps the aspect ratio; ``exact`` stretches to ``resize``;
            ``letterbox`` fits the whole image inside ``resize``, keeping its aspect
            ratio, and pads the rest with ``pad``; ``dbnet`` (text regions) scales a
            shorter side below ``resize`` up to it, keeps larger images (a longer side
            over 2,000 px comes down to 2,000) and rounds both sides to multiples of 32,
            as PaddleOCR / RapidOCR do; ``height`` (text lines) scales to ``resize``
            ``(height, min_width)``'s height keeping the aspect ratio and pads the
            tensor on the right with the normalised zero up to ``min_width``.
        crop: centre crop ``(height, width)`` after the resize, or None.
        mean: per-channel mean subtracted, in 0–255 units, in the tensor's channel order.
        std: per-channel divisor, in 0–255 units.
        layout: ``NCHW`` or ``NHWC``.
        color: channel order of the tensor.
        datatype: V2 datatype of the tensor (``FP32``, ``FP16`` or ``UINT8``).
        pad: letterbox fill value, 0–255, before normalisation.
        width_step: ``height`` mode: pad the width up to a multiple of this (lines of
            nearby widths then share a shape, so the batcher can batch them).
    """

    input: str | None = None
    resize: tuple[int, int] | int | None = 256
    mode: ResizeMode = "shorter"
    crop: tuple[int, int] | None = (224, 224)
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    layout: Layout = "NCHW"
    color: ColorOrder = "RGB"
    datatype: str = "FP32"
    pad: int = 114
    width_step: int = 1

    @property
    def min_decode_side(self) -> int:
        """The smallest shorter side a decoder may downscale to without losing detail."""
        sizes: list[int] = []
        if self.mode == "height" and isinstance(self.resize, tuple):
            return self.resize[0]
        if self.crop is not None:
            sizes.extend(self.crop)
        if isinstance(self.resize, int):
            sizes.append(self.resize)
        elif self.resize is not None:
            sizes.extend(self.resize)
        return max(sizes) if sizes else 0


@dataclass(frozen=True, slots=True)
class PostprocessSpec:
    """How to turn one image's output row into the task's answer.

    Attributes:
        decoder: which decoder (``tensorgate.tasks.DECODERS``): ``topk`` for a
            classifier, ``yolov8`` for a detector, ``pooled`` for an embedding.
        output: the model output it reads (None: the model's first output).
        labels: class names by index, from the model's labels file.
        softmax: ``topk``: apply softmax (the output holds logits).
        top_k: ``topk``: how many classes to return by default.
        score_threshold / iou_threshold / max_detections / max_candidates /
            class_agnostic: ``yolov8``, see ``tensorgate.tasks.yolov8.DetectParams``.
        threshold / box_threshold / unclip_ratio (and max_candidates): ``dbnet``, see
            ``tensorgate.tasks.dbnet.RegionParams``. ``ctc`` reads its dictionary from
            ``labels`` or, without one, from the model file's ``character`` metadata.
    """

    output: str | None = None
    softmax: bool = True
    top_k: int = 5
    labels: tuple[str, ...] = ()
    decoder: str = "topk"
    score_threshold: float = 0.25
    iou_threshold: float = 0.45
    max_detections: int = 100
    max_candidates: int = 3000
    class_agnostic: bool = False
    threshold: float = 0.3
    box_threshold: float = 0.5
    unclip_ratio: float = 1.6


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """Bounds on what an image may be before any pixel is allocated.

    Attributes:
        max_pixels: width × height limit of the encoded image.
        max_side: longest side limit, in pixels.
        min_side: shortest side limit, in pixels.
        formats: Pillow format names accepted.
    """

    max_pixels: int = 50_000_000
    max_side: int = 16_384
    min_side: int = 16
    formats: tuple[str, ...] = ("JPEG", "PNG", "WEBP")
