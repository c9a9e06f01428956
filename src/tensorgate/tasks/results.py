"""What each vision task answers: typed, frozen results that every door renders.

Coordinates are in the original image's pixels, after its EXIF orientation; boxes say
their format (``xyxy``: left, top, right, bottom). ``width`` and ``height`` are that
upright image's size, so a client can draw without decoding the image itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from tensorgate.types import Array, Classification

__all__ = [
    "BoxFormat",
    "Classes",
    "Detection",
    "Detections",
    "Embedding",
    "Match",
    "Matches",
    "TaskAnswer",
    "TextLine",
    "TextRegion",
    "TextRegions",
]

BoxFormat = Literal["xyxy"]


@dataclass(frozen=True, slots=True)
class Classes:
    """A classifier's answer: the best classes, best first."""

    classes: tuple[Classification, ...]


@dataclass(frozen=True, slots=True)
class Detection:
    """One detected object.

    Attributes:
        box: ``(left, top, right, bottom)`` in original-image pixels.
        score: the class's confidence, 0–1.
        index: the class index in the model's output.
        label: its name from the labels file (the index as text if there is none).
        parts: a pipeline's answers for this detection's crop, by step name (empty
            outside pipelines, and for a detection the pipeline did not crop).
    """

    box: tuple[float, float, float, float]
    score: float
    index: int
    label: str
    parts: Mapping[str, TaskAnswer] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class Detections:
    """A detector's answer for one image (an empty tuple when nothing was found).

    Attributes:
        width / height: the upright original image's size in pixels.
        items: detections, best score first.
        box_format: how ``box`` is written (``xyxy``).
    """

    width: int
    height: int
    items: tuple[Detection, ...]
    box_format: BoxFormat = "xyxy"


@dataclass(frozen=True, slots=True)
class Embedding:
    """An image's feature vector, L2-normalised (cosine similarity is a dot product).

    Attributes:
        vector: float32, shape ``(dimension,)``.
        parts: in a pipeline, the answers of the steps that read it (a match step's
            ``Matches``), by step name.
    """

    vector: Array
    parts: Mapping[str, TaskAnswer] = field(default_factory=dict, hash=False)

    @property
    def dimension(self) -> int:
        return int(self.vector.shape[0])


@dataclass(frozen=True, slots=True)
class TextRegion:
    """One region of text.

    Attributes:
        polygon: four ``(x, y)`` corners in original-image pixels, clockwise from the
            top-left (a rotated rectangle: text may be slanted).
        score: mean text probability inside the region, 0–1.
        parts: a pipeline's answers for this region's crop, by step name (a line's
            ``TextLine``); empty outside pipelines.
    """

    polygon: tuple[tuple[float, float], ...]
    score: float
    parts: Mapping[str, TaskAnswer] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class TextRegions:
    """A text detector's answer for one image, in reading order (top to bottom, then
    left to right); an empty tuple when the image has no text."""

    width: int
    height: int
    items: tuple[TextRegion, ...]


@dataclass(frozen=True, slots=True)
class TextLine:
    """A text recogniser's answer for one line image.

    Attributes:
        text: the characters read (empty when none).
        score: the mean probability of those characters, 0–1 (0 when none).
    """

    text: str
    score: float


@dataclass(frozen=True, slots=True)
class Match:
    """One catalogue item near a query.

    Attributes:
        id: the item's id in the catalogue index.
        score: cosine similarity, -1–1 (1: the same direction).
    """

    id: str
    score: float


@dataclass(frozen=True, slots=True)
class Matches:
    """A match step's answer: the nearest catalogue items, best first."""

    items: tuple[Match, ...]


#: Any task's answer for one image.
TaskAnswer = Classes | Detections | Embedding | TextRegions | TextLine | Matches
