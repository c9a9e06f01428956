"""The one scoring function every engine runs: ``(index, input)`` pairs → rows.

``Scorer`` loads one model into an in-process Engine (the server's batching, device gate
and decode pool) and scores items concurrently, so a chunk's images share batches.
Items are read (local file or ``s3://``) and sent to the engine a group at a time
(``group`` images a call: one request's Python for the group, not one per image); a
missing file is that item's error row, and a group with an image the engine refuses
is scored again one image at a time, so a corrupt image becomes its own error row and
nothing else fails.

The local runner keeps several chunks in flight on one Scorer; Ray runs one Scorer per
actor and Spark one per Python worker, both through ``score_frame``. In your own Ray or
Spark job, call it the same way::

    scorer = Scorer("efficientnet-lite0")          # once per worker process
    frame = score_frame(pandas_frame, scorer)      # columns: index, input
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tensorgate.client.inprocess import Predictor
from tensorgate.config import EngineSettings
from tensorgate.engine import Engine
from tensorgate.errors import (
    ConfigError,
    SourceError,
    SourceNotFoundError,
    SourceTooLargeError,
    TensorgateError,
)
from tensorgate.jobs.rows import ROW_KEYS, Row, error_row, result_row
from tensorgate.sources import S3Fetcher, S3Policy, parse_s3_uri

if TYPE_CHECKING:
    import pandas

__all__ = ["Item", "Scorer", "rows_from_frame", "score_frame", "score_partition"]

#: ``(index, input)``: an input's position in the job and its path or ``s3://`` URI.
Item = tuple[int, str]

MiB = 1024 * 1024
#: Images per engine call by default: the engine's Python per image falls ~3× from one
#: image a call to eight (docs/benchmarks.md, "The engine's Python per image").
GROUP = 8


def _read_file(path: str, max_bytes: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise SourceNotFoundError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise SourceError(f"{path} is a directory, not an image file") from None
    except OSError as exc:
        raise SourceError(f"{path} could not be read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise SourceTooLargeError(f"{path} is over the {max_bytes:,}-byte limit")
    return data


def _read_files(paths: Sequence[str], max_bytes: int) -> list[bytes | TensorgateError]:
    """``_read_file`` of each path (one thread hop for a group), a failure in its place."""
    read: list[bytes | TensorgateError] = []
    for path in paths:
        try:
            read.append(_read_file(path, max_bytes))
        except TensorgateError as exc:
            read.append(exc)
    return read


class Scorer:
    """One model, loaded once, scoring items in this process.

    Args:
        model: the repository model to use.
        settings: engine settings (repository, device, instances…); ``models`` is
            replaced by ``(model,)``.
        top_k: classes kept per input (None: the model's default).
        s3: endpoint and region for ``s3://`` inputs; any bucket the job names is read.
        max_bytes: largest input file accepted.
        group: images sent to the engine in one call (at most the model's
            ``max_batch_size``); 1 sends each alone.
    """

    def __init__(
        self,
        model: str,
        settings: EngineSettings | None = None,
        *,
        top_k: int | None = None,
        s3: S3Policy | None = None,
        max_bytes: int = 20 * MiB,
        group: int = GROUP,
    ) -> None:
        if group < 1:
            raise ConfigError(f"group is {group}; send at least 1 image per call")
        self.model = model
        self.top_k = top_k
        #: The model's task (``classify``, ``detect``, ``embed``), known once it loads.
        self.task = "classify"
        self.max_bytes = max_bytes
        self._s3_policy = s3 or S3Policy()
        self._fetchers: dict[str, S3Fetcher] = {}
        settings = replace(settings or EngineSettings(), models=(model,))
        self._predictor = Predictor(settings, model)
        loaded = self._predictor.run(self._describe).result()
        self.max_batch_size, self.capacity = loaded
        self.group = max(1, min(group, self.max_batch_size))

    async def _describe(self, engine: Engine) -> tuple[int, int]:
        if engine.is_pipeline(self.model):  # its first model takes the images
            pipeline = engine.pipeline(self.model)
            self.task = pipeline.task
            first = engine.model(next(s.model for s in pipeline.status.steps if s.input == "image"))
            return first.config.max_batch_size, first.queue_rows
        model = engine.model(self.model)
        self.task = model.config.task
        return model.config.max_batch_size, model.queue_rows

    def _fetcher(self, bucket: str) -> S3Fetcher:
        if bucket not in self._fetchers:
            policy = replace(self._s3_policy, allowed=(bucket,), max_bytes=self.max_bytes)
            self._fetchers[bucket] = S3Fetcher(policy)
        return self._fetchers[bucket]

    async def _read(self, source: str) -> bytes:
        if source.startswith("s3://"):
            bucket, key = parse_s3_uri(source)
            return await asyncio.to_thread(self._fetcher(bucket).fetch, bucket, key)
        return await asyncio.to_thread(_read_file, source, self.max_bytes)

    async def _score(self, engine: Engine, items: Sequence[Item]) -> list[Row]:
        rows: list[Row | None] = [None] * len(items)

        async def alone(position: int, data: bytes) -> None:
            index, source = items[position]
            try:
                result = await engine.run_images(self.model, [data], top=self.top_k)
            except TensorgateError as exc:
                rows[position] = error_row(index, source, exc)
                return
            rows[position] = result_row(index, source, result.answers[0])

        async def read(position: int) -> bytes | TensorgateError:
            try:
                return await self._read(items[position][1])
            except TensorgateError as exc:
                return exc

        async def read_group(positions: range) -> Sequence[bytes | TensorgateError]:
            sources = [items[p][1] for p in positions]
            if any(source.startswith("s3://") for source in sources):  # each its request
                return await asyncio.gather(*(read(p) for p in positions))
            return await asyncio.to_thread(_read_files, sources, self.max_bytes)  # one hop

        async def group(positions: range) -> None:
            ready: list[tuple[int, bytes]] = []
            for position, data in zip(positions, await read_group(positions), strict=True):
                if isinstance(data, TensorgateError):
                    rows[position] = error_row(*items[position], data)
                else:
                    ready.append((position, data))
            if not ready:
                return
            if len(ready) == 1:
                await alone(*ready[0])
                return
            try:
                result = await engine.run_images(self.model, [d for _, d in ready], top=self.top_k)
            except TensorgateError:
                # The call failed whole (its first bad image, say): each image again on
                # its own, so only the ones that fail alone get an error row.
                await asyncio.gather(*(alone(p, d) for p, d in ready))
                return
            for (position, _), answer in zip(ready, result.answers, strict=True):
                index, source = items[position]
                rows[position] = result_row(index, source, answer)

        size = self.group
        await asyncio.gather(
            *(group(range(a, min(a + size, len(items)))) for a in range(0, len(items), size))
        )
        done = [row for row in rows if row is not None]
        assert len(done) == len(items), "every item gets a row"
        return done

    def submit(self, items: Sequence[Item]) -> Future[list[Row]]:
        """Score ``items`` in the background; one row each, in order."""
        return self._predictor.run(lambda engine: self._score(engine, items))

    def score(self, items: Sequence[Item]) -> list[Row]:
        """Score ``items``; one row each, in order."""
        return self.submit(items).result()

    def close(self) -> None:
        self._predictor.close()

    def __enter__(self) -> Scorer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def score_partition(items: Sequence[Item], scorer: Scorer) -> list[Row]:
    """The shared partition-scoring function: the rows of ``items``."""
    return scorer.score(items)


def score_frame(frame: pandas.DataFrame, scorer: Scorer) -> pandas.DataFrame:
    """``score_partition`` over a pandas frame with ``index`` and ``input`` columns (a
    Ray Data batch, a Spark ``mapInPandas`` chunk); a frame of ``ROW_KEYS`` back."""
    import pandas

    items = [(int(i), str(s)) for i, s in zip(frame["index"], frame["input"], strict=True)]
    rows = score_partition(items, scorer)
    return pandas.DataFrame.from_records(rows, columns=list(ROW_KEYS))


def _none_if_missing(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def rows_from_frame(frame: pandas.DataFrame) -> list[Row]:
    """Rows back from a scored frame (pandas turns None into NaN in numeric columns)."""
    rows: list[Row] = []
    for record in frame.to_dict("records"):
        class_index = _none_if_missing(record["class_index"])
        score = _none_if_missing(record["score"])
        rows.append(
            Row(
                index=int(record["index"]),
                input=str(record["input"]),
                label=_none_if_missing(record["label"]),
                class_index=None if class_index is None else int(class_index),
                score=None if score is None else float(score),
                top_k=_none_if_missing(record["top_k"]),
                answer=_none_if_missing(record.get("answer")),
                error=_none_if_missing(record["error"]),
            )
        )
    return rows
