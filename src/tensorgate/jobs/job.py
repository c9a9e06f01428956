"""``run``: one offline batch job from input listing to output file, resumable."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TextIO

from tensorgate.config import EngineSettings
from tensorgate.engine import broken_models, pipeline_task, preflight
from tensorgate.errors import ConfigError, JobError
from tensorgate.jobs.engines import ENGINES, ScorerSpec, run_local, run_ray, run_spark
from tensorgate.jobs.inputs import list_inputs
from tensorgate.jobs.progress import Progress, Summary
from tensorgate.jobs.rows import Row
from tensorgate.jobs.sinks import output_format, write_output
from tensorgate.jobs.state import JobSpec, JobState
from tensorgate.sources import S3Policy

__all__ = ["run"]


def _check_model(settings: EngineSettings, model: str) -> tuple[str, int | None]:
    """Fail before listing a single input when the model cannot load; else its task and,
    for an embedding model that declares it, the vector's dimension (typed columns)."""
    only = replace(settings, models=(model,))
    reason = broken_models(only).get(model)
    if reason is not None:
        raise JobError(f"model {model!r} cannot be loaded: {reason}")
    try:
        task = pipeline_task(settings, model)
    except ConfigError as exc:
        raise JobError(f"pipeline {model!r} cannot be loaded: {exc.message}") from None
    if task is not None:
        return task, None
    for entry in preflight(only):
        config = getattr(entry, "config", None)
        if entry.name != model or config is None:
            continue
        dimension = None
        post = config.postprocess
        wanted = post.output if post is not None and post.output else None
        for spec in config.outputs:
            if (wanted is None or spec.name == wanted) and spec.shape and spec.shape[0] > 0:
                dimension = spec.shape[0]
                break
        return config.task, dimension if config.task == "embed" else None
    return "classify", None


def _durably(state: JobState, what: str, write: Callable[[], None]) -> None:
    """Run a write of the job's; a full disk (or any write error) becomes a JobError that
    says what is safe and how to go on.

    Raises:
        JobError: the write failed.
    """
    try:
        write()
    except OSError as exc:
        raise JobError(
            f"writing {what} failed: {exc.strerror or exc} ({state.output.parent}); "
            f"{state.done_count:,} of {state.total:,} results are committed in "
            f"{state.folder} — free some space and run the same command again to resume"
        ) from exc


def _write_pending(state: JobState) -> Path:
    """The items left, as JSON lines, for engines that read files (Ray, Spark)."""
    path = state.folder / "pending.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for index, source in state.pending():
            handle.write(json.dumps({"index": index, "input": source}))
            handle.write("\n")
    return path


def run(
    model: str,
    inputs: str,
    output: str | Path,
    *,
    engine: str = "local",
    top_k: int = 5,
    settings: EngineSettings | None = None,
    s3: S3Policy | None = None,
    overwrite: bool = False,
    progress: TextIO | None = sys.stderr,
    commit_rows: int = 4096,
    commit_seconds: float = 5.0,
    ray_address: str | None = None,
    spark_master: str | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Summary:
    """Score every image ``inputs`` names with ``model`` into ``output``.

    Args:
        model: a model of the repository (``settings.repository``).
        inputs: a directory (walked recursively), a glob, a manifest file (one path or
            ``s3://`` URI a line) or ``s3://bucket/prefix``.
        output: ``.parquet``, ``.csv`` or ``.jsonl``; one row per input (``rows.Row``).
        engine: ``local`` (this process), ``ray`` or ``spark``.
        top_k: classes kept per input.
        settings: engine settings (repository, device, instances, threads).
        s3: endpoint and region for S3 inputs (boto3's usual credentials).
        overwrite: discard an existing output and any unfinished state first.
        progress: where the progress line goes (None: nowhere).
        commit_rows, commit_seconds: results are made durable at least this often.
        ray_address, spark_master: the cluster to join (default: a local one).
        clock: monotonic seconds (tests inject one).

    Killed at any point and run again with the same arguments, the job resumes and the
    output holds every input exactly once.

    Raises:
        JobError: bad output suffix, no inputs, another job's state in the way, or a
            model that cannot load.
    """
    if engine not in ENGINES:
        raise JobError(f"engine {engine!r} is unknown; use one of {', '.join(ENGINES)}")
    if top_k < 1:
        raise JobError(f"top_k is {top_k}; it must be at least 1")
    settings = settings or EngineSettings()
    s3 = s3 or S3Policy()
    target = Path(output).expanduser().resolve()
    output_format(target)
    if not target.parent.is_dir():
        raise JobError(f"output folder {str(target.parent)!r} does not exist; create it first")
    task, dimension = _check_model(settings, model)
    started = clock()
    state = JobState(JobSpec(model=model, inputs=inputs, output=str(target), top_k=top_k))
    opened = state.open(list_inputs(inputs, s3), overwrite=overwrite)
    if opened == "complete":
        return Summary(str(target), state.total, 0, state.total, 0, 0.0, engine, opened)
    already = state.done_count
    bar = Progress(state.total, already, clock, progress)
    spec = ScorerSpec(model, settings, top_k=top_k, s3=s3)
    batches: Iterator[list[Row]]
    if state.done_count == state.total:
        batches = iter(())
    elif engine == "local":
        batches = run_local(spec, state.pending())
    elif engine == "ray":
        batches = run_ray(spec, _write_pending(state), address=ray_address)
    else:
        batches = run_spark(spec, _write_pending(state), master=spark_master)
    buffer: list[Row] = []
    committed_at = clock()
    for rows in batches:
        buffer.extend(rows)
        bar.advance(len(rows), sum(r["error"] is not None for r in rows))
        if len(buffer) >= commit_rows or clock() - committed_at >= commit_seconds:
            _durably(state, "results", partial(state.commit, buffer))
            buffer, committed_at = [], clock()
    _durably(state, "results", partial(state.commit, buffer))
    bar.close()
    if state.done_count != state.total:  # an engine lost items: never write a partial file
        raise JobError(
            f"the {engine} engine returned {state.done_count - already:,} of "
            f"{state.total - already:,} pending inputs; run the same command again to "
            "score the rest"
        )
    _durably(state, "the output", partial(write_output, target, state.rows(), task, dimension))
    state.remove()
    return Summary(
        str(target),
        state.total,
        state.done_count - already,
        already,
        state.failed_count,
        clock() - started,
        engine,
        opened,
    )
