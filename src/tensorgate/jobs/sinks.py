"""Write a job's rows as Parquet, CSV or JSON lines, streaming, then rename into place."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tensorgate.errors import JobError
from tensorgate.jobs.rows import TASK_COLUMNS, Row, chunked
from tensorgate.protocol.answers import ANSWER_FIELDS

__all__ = ["FORMATS", "output_format", "write_output"]

FORMATS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_ROW_GROUP = 16_384


def output_format(path: Path) -> str:
    """The format an output path's suffix names.

    Raises:
        JobError: an unknown suffix, or Parquet without pyarrow installed.
    """
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise JobError(
            f"output {str(path)!r} has suffix {path.suffix!r}; "
            f"use one of {', '.join(sorted(FORMATS))}"
        )
    if kind == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise JobError(
                "Parquet output needs pyarrow: pip install 'tensorgate[batch]', "
                "or write .csv / .jsonl"
            ) from None
    return kind


def _schema(task: str, dimension: int | None) -> Any:
    import pyarrow as pa

    head = [("index", pa.int64()), ("input", pa.string())]
    if task == "detect":
        detection = pa.struct(
            [
                ("box", pa.list_(pa.float32(), 4)),  # xyxy, original-image pixels
                ("score", pa.float32()),
                ("index", pa.int64()),
                ("label", pa.string()),
                ("parts", pa.string()),  # a pipeline's answers for its crop, JSON
            ]
        )
        body = [
            ("width", pa.int32()),
            ("height", pa.int32()),
            ("detections", pa.list_(detection)),
        ]
    elif task == "embed":
        vector = pa.list_(pa.float32(), dimension) if dimension else pa.list_(pa.float32())
        body = [("embedding", vector), ("parts", pa.string())]  # a pipeline's matches, JSON
    elif task == "text-detect":
        region = pa.struct(
            [
                # four (x, y) corners, clockwise from the top-left, original pixels
                ("polygon", pa.list_(pa.list_(pa.float32(), 2), 4)),
                ("score", pa.float32()),
                ("parts", pa.string()),  # a pipeline's answers for its crop, JSON
            ]
        )
        body = [("width", pa.int32()), ("height", pa.int32()), ("regions", pa.list_(region))]
    elif task == "text-recognize":
        body = [("text", pa.string()), ("score", pa.float32())]
    else:
        body = [
            ("label", pa.string()),
            ("class_index", pa.int64()),
            ("score", pa.float64()),
            ("top_k", pa.string()),
        ]
    return pa.schema([*head, *body, ("error", pa.string())])


def _record(task: str, row: Row, *, typed: bool = True) -> dict[str, Any]:
    """A row as its task's record: the classifier's columns, or the answer's fields
    (``typed``: exactly the Parquet schema's; else every field of the answer)."""
    if task == "classify":
        return {k: row.get(k) for k in TASK_COLUMNS["classify"]}
    text = row.get("answer")
    answer: dict[str, Any] = json.loads(text) if text else {}
    record: dict[str, Any] = {"index": row["index"], "input": row["input"]}
    if not typed:
        return {**record, **answer, "error": row["error"]}
    fields = {
        "detect": ("width", "height", "detections"),
        "embed": ("embedding",),
        "text-detect": ("width", "height", "regions"),
        "text-recognize": ("text", "score"),
    }[task]
    record.update({name: answer.get(name) for name in fields})
    for key in ("detections", "regions"):
        if record.get(key):
            record[key] = [_with_parts(item) for item in record[key]]
    if task == "embed":
        record["parts"] = _with_parts(answer)["parts"]
    record["error"] = row["error"]
    return record


def _with_parts(item: dict[str, Any]) -> dict[str, Any]:
    """A detection or region with its pipeline steps' answers as one JSON ``parts``
    string (None outside pipelines): the typed columns stay the same for every
    pipeline."""
    parts = {k: v for k, v in item.items() if k not in ANSWER_FIELDS}
    own = {k: v for k, v in item.items() if k in ANSWER_FIELDS}
    return {**own, "parts": json.dumps(parts, separators=(",", ":")) if parts else None}


def _parquet(path: Path, rows: Iterable[Row], task: str, dimension: int | None) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _schema(task, dimension)
    with pq.ParquetWriter(path, schema) as writer:
        for chunk in chunked(rows, _ROW_GROUP):
            records = [_record(task, r) for r in chunk]
            writer.write_table(pa.Table.from_pylist(records, schema=schema))


def _csv(path: Path, rows: Iterable[Row], task: str, dimension: int | None) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=TASK_COLUMNS[task], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _jsonl(path: Path, rows: Iterable[Row], task: str, dimension: int | None) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(_record(task, row, typed=False)))
            handle.write("\n")


def write_output(
    path: Path, rows: Iterable[Row], task: str = "classify", dimension: int | None = None
) -> None:
    """Stream ``rows`` into ``path`` in the format its suffix names, atomically.

    Parquet columns are typed per task: a detector's ``detections`` a list of structs
    (``box`` four float32 in xyxy, ``score``, ``index``, ``label``, and ``parts``: a
    pipeline's answers for the detection's crop as JSON) beside ``width`` and
    ``height``; an embedding a fixed-size list of ``dimension`` float32 (a plain list
    when the model declares no dimension). CSV writes the answer as a JSON ``answer``
    column; JSON lines nest it.
    """
    kind = output_format(path)
    temporary = path.with_name(f".{path.name}.tmp")
    writer = {"parquet": _parquet, "csv": _csv, "jsonl": _jsonl}[kind]
    try:
        writer(temporary, rows, task, dimension)
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
    except OSError:
        temporary.unlink(missing_ok=True)  # give back the space a full disk needs
        raise
    temporary.replace(path)
