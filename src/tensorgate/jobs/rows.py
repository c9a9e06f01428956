"""One output row per input: what it was, what the model said, or why it failed."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import TypedDict, TypeVar

from tensorgate.types import Classification

__all__ = ["COLUMNS", "Row", "chunked", "error_row", "result_row"]

T = TypeVar("T")


class Row(TypedDict):
    """A scored (or failed) input.

    Keys:
        index: the input's position in the job's frozen input list (0-based).
        input: the path or ``s3://`` URI.
        label: the best class's label (None on error).
        class_index: the best class's index (None on error).
        score: the best class's score (None on error).
        top_k: JSON list of ``{"index", "label", "score"}``, best first (None on error).
        error: ``ErrorClass: message`` when the input failed, else None.
    """

    index: int
    input: str
    label: str | None
    class_index: int | None
    score: float | None
    top_k: str | None
    error: str | None


#: Column order of every output format.
COLUMNS: tuple[str, ...] = tuple(Row.__annotations__)


def result_row(index: int, source: str, classes: Sequence[Classification]) -> Row:
    best = classes[0]
    return Row(
        index=index,
        input=source,
        label=best.label,
        class_index=best.index,
        score=best.score,
        top_k=json.dumps(
            [{"index": c.index, "label": c.label, "score": round(c.score, 6)} for c in classes]
        ),
        error=None,
    )


def error_row(index: int, source: str, error: BaseException) -> Row:
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    return Row(
        index=index,
        input=source,
        label=None,
        class_index=None,
        score=None,
        top_k=None,
        error=f"{type(error).__name__}: {message}",
    )


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last may be shorter), read lazily."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
