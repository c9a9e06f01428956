"""Task answers as JSON, both ways (pure): what the image routes send and the clients
read. Each task has one shape, whichever door renders it::

    classify  {"predictions": [{"label", "index", "score"}, ...]}
    detect    {"width", "height", "box_format": "xyxy",
               "detections": [{"box": [l, t, r, b], "score", "index", "label"}, ...]}
    embed     {"dimension": D, "embedding": [D floats]}
    text-detect     {"width", "height", "regions": [{"polygon": [[x, y] × 4], "score"}, ...]}
    text-recognize  {"text", "score"}
    match           {"matches": [{"id", "score"}, ...]}   (a pipeline's match step)

A pipeline answers its first model's shape; each detection or region it cropped also
holds, under each step's name, that step's answer for the crop::

    {"polygon": [...], "score": 0.93, "text": {"text": "Invoice 4471", "score": 0.99}}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tensorgate.errors import ProtocolError
from tensorgate.tasks.results import (
    Classes,
    Detection,
    Detections,
    Embedding,
    Match,
    Matches,
    TaskAnswer,
    TextLine,
    TextRegion,
    TextRegions,
)
from tensorgate.types import Classification

__all__ = ["ANSWER_FIELDS", "answer_from_json", "answer_json", "task_of_json"]

#: The key that tells each task's answer from the others.
_SIGNATURE = {
    "predictions": "classify",
    "detections": "detect",
    "embedding": "embed",
    "regions": "text-detect",
    "text": "text-recognize",
    "matches": "match",
}
#: The keys of a detection's, a region's and an embedding's own fields: any other key
#: in them holds a pipeline step's answer (a part).
ANSWER_FIELDS = frozenset({"box", "score", "index", "label", "polygon", "dimension", "embedding"})


def _parts(parts: Mapping[str, TaskAnswer]) -> dict[str, Any]:
    return {name: answer_json(part) for name, part in parts.items()}


def _parts_from(doc: Mapping[str, Any]) -> dict[str, TaskAnswer]:
    return {
        key: answer_from_json(task_of_json(value), value)
        for key, value in doc.items()
        if key not in ANSWER_FIELDS and isinstance(value, dict)
    }


def task_of_json(doc: Mapping[str, Any]) -> str:
    """The task whose answer ``doc`` is, told by its keys.

    Raises:
        ProtocolError: no task answers that shape.
    """
    for key, task in _SIGNATURE.items():
        if key in doc:
            return task
    raise ProtocolError(f"an answer has none of the keys {', '.join(_SIGNATURE)}: {doc!r:.80}")


def answer_json(answer: TaskAnswer) -> dict[str, Any]:
    """One image's answer as a JSON object (scores rounded to 6 places, boxes to 2,
    embeddings to 7)."""
    if isinstance(answer, Classes):
        return {
            "predictions": [
                {"label": c.label, "index": c.index, "score": round(c.score, 6)}
                for c in answer.classes
            ]
        }
    if isinstance(answer, Detections):
        return {
            "width": answer.width,
            "height": answer.height,
            "box_format": answer.box_format,
            "detections": [
                {
                    "box": [round(v, 2) for v in d.box],
                    "score": round(d.score, 6),
                    "index": d.index,
                    "label": d.label,
                    **_parts(d.parts),
                }
                for d in answer.items
            ],
        }
    if isinstance(answer, TextRegions):
        return {
            "width": answer.width,
            "height": answer.height,
            "regions": [
                {
                    "polygon": [[x, y] for x, y in r.polygon],
                    "score": round(r.score, 6),
                    **_parts(r.parts),
                }
                for r in answer.items
            ],
        }
    if isinstance(answer, TextLine):
        return {"text": answer.text, "score": round(answer.score, 6)}
    if isinstance(answer, Matches):
        return {"matches": [{"id": m.id, "score": round(m.score, 6)} for m in answer.items]}
    # Seven decimals: the precision of a float32 unit vector's components, and half the
    # bytes and JSON time of full float reprs (0.33 against 0.67 ms for 1,280 values).
    vector = answer.vector.astype(np.float64).round(7).tolist()
    return {"dimension": answer.dimension, "embedding": vector, **_parts(answer.parts)}


def answer_from_json(task: str, doc: Mapping[str, Any]) -> TaskAnswer:
    """The answer a ``task`` route sent for one image.

    Raises:
        ProtocolError: the document is not that task's shape.
    """
    try:
        if task == "classify":
            return Classes(
                tuple(
                    Classification(int(p["index"]), str(p["label"]), float(p["score"]))
                    for p in doc["predictions"]
                )
            )
        if task == "detect":
            return Detections(
                int(doc["width"]),
                int(doc["height"]),
                tuple(
                    Detection(
                        (
                            float(d["box"][0]),
                            float(d["box"][1]),
                            float(d["box"][2]),
                            float(d["box"][3]),
                        ),
                        float(d["score"]),
                        int(d["index"]),
                        str(d["label"]),
                        _parts_from(d),
                    )
                    for d in doc["detections"]
                ),
            )
        if task == "embed":
            return Embedding(np.asarray(doc["embedding"], dtype=np.float32), _parts_from(doc))
        if task == "match":
            return Matches(tuple(Match(str(m["id"]), float(m["score"])) for m in doc["matches"]))
        if task == "text-detect":
            return TextRegions(
                int(doc["width"]),
                int(doc["height"]),
                tuple(
                    TextRegion(
                        tuple((float(x), float(y)) for x, y in r["polygon"]),
                        float(r["score"]),
                        _parts_from(r),
                    )
                    for r in doc["regions"]
                ),
            )
        if task == "text-recognize":
            return TextLine(str(doc["text"]), float(doc["score"]))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ProtocolError(f"a {task} answer is malformed: {type(exc).__name__}: {exc}") from None
    raise ProtocolError(
        f"task {task!r} has no JSON answer shape; tasks: classify, detect, embed, "
        "text-detect, text-recognize"
    )
