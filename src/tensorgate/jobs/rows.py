"""One output row per input: what it was, what the model said, or why it failed.

A classifier's answer fills ``label``, ``class_index``, ``score`` and ``top_k``; any other
task's answer travels as ``answer``, its JSON (``protocol.answers``), which the sinks
write as typed columns (Parquet) or nested JSON. Rows cross process boundaries (Ray,
Spark) as plain records of strings and numbers."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypedDict, TypeVar

from tensorgate.protocol.answers import answer_json
from tensorgate.tasks.results import Classes, TaskAnswer

__all__ = ["COLUMNS", "ROW_KEYS", "TASK_COLUMNS", "Row", "chunked", "error_row", "result_row"]

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
        answer: another task's answer as JSON (None for a classifier, and on error).
        error: ``ErrorClass: message`` when the input failed, else None.
    """

    index: int
    input: str
    label: str | None
    class_index: int | None
    score: float | None
    top_k: str | None
    answer: str | None
    error: str | None


#: Every key of a row, in order (what travels between processes: Ray, Spark).
ROW_KEYS: tuple[str, ...] = tuple(Row.__annotations__)

#: The CSV columns of each task's output; a classifier's are its output's columns in
#: every format (``COLUMNS``), another task's answer goes in ``answer`` as JSON (see
#: ``sinks`` for its typed Parquet columns).
TASK_COLUMNS: dict[str, tuple[str, ...]] = {
    "classify": ("index", "input", "label", "class_index", "score", "top_k", "error"),
    "detect": ("index", "input", "answer", "error"),
    "embed": ("index", "input", "answer", "error"),
    "text-detect": ("index", "input", "answer", "error"),
    "text-recognize": ("index", "input", "answer", "error"),
}

#: A classifier's output columns, in every format.
COLUMNS: tuple[str, ...] = TASK_COLUMNS["classify"]


def result_row(index: int, source: str, answer: TaskAnswer) -> Row:
    """The row of an input the model answered."""
    if not isinstance(answer, Classes):
        return _unclassified(
            index, source, answer=json.dumps(answer_json(answer), separators=(",", ":"))
        )
    classes = answer.classes
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
        answer=None,
        error=None,
    )


def error_row(index: int, source: str, error: BaseException) -> Row:
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    return _unclassified(index, source, error=f"{type(error).__name__}: {message}")


def _unclassified(
    index: int, source: str, *, answer: str | None = None, error: str | None = None
) -> Row:
    """A row without a classifier's columns: another task's answer, or an error."""
    return Row(
        index=index,
        input=source,
        label=None,
        class_index=None,
        score=None,
        top_k=None,
        answer=answer,
        error=error,
    )


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last may be shorter), read lazily."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
