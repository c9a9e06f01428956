"""Write a job's rows as Parquet, CSV or JSON lines, streaming, then rename into place."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tensorgate.errors import JobError
from tensorgate.jobs.rows import COLUMNS, Row, chunked

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


def _parquet(path: Path, rows: Iterable[Row]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("index", pa.int64()),
            ("input", pa.string()),
            ("label", pa.string()),
            ("class_index", pa.int64()),
            ("score", pa.float64()),
            ("top_k", pa.string()),
            ("error", pa.string()),
        ]
    )
    with pq.ParquetWriter(path, schema) as writer:
        for chunk in chunked(rows, _ROW_GROUP):
            records: list[dict[str, Any]] = [dict(r) for r in chunk]
            writer.write_table(pa.Table.from_pylist(records, schema=schema))


def _csv(path: Path, rows: Iterable[Row]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def _jsonl(path: Path, rows: Iterable[Row]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row))
            handle.write("\n")


def write_output(path: Path, rows: Iterable[Row]) -> None:
    """Stream ``rows`` into ``path`` in the format its suffix names, atomically."""
    kind = output_format(path)
    temporary = path.with_name(f".{path.name}.tmp")
    writer = {"parquet": _parquet, "csv": _csv, "jsonl": _jsonl}[kind]
    writer(temporary, rows)
    with temporary.open("rb") as handle:
        os.fsync(handle.fileno())
    temporary.replace(path)
