"""Where the scoring runs: this process (default), Ray Data or Spark. Thin adapters over
``scoring.score_partition``: each takes the pending items and yields lists of rows back
to the driver, which alone commits them (``state.py``), so exactly-once holds whatever
engine scored them.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tensorgate.config import EngineSettings
from tensorgate.errors import ConfigError
from tensorgate.jobs.rows import Row, chunked
from tensorgate.jobs.scoring import GROUP, Item, Scorer, rows_from_frame, score_frame
from tensorgate.sources import S3Policy

if TYPE_CHECKING:
    import pandas

__all__ = ["ENGINES", "ScorerSpec", "run_local", "run_ray", "run_spark"]

ENGINES = ("local", "ray", "spark")
_LOCAL_CHUNK = 64


@dataclass(frozen=True, slots=True)
class ScorerSpec:
    """How a worker builds its Scorer (picklable: it travels to Ray actors and Spark
    executors)."""

    model: str
    settings: EngineSettings
    top_k: int | None = None
    s3: S3Policy = field(default_factory=S3Policy)
    max_bytes: int = 20 * 1024 * 1024
    group: int = GROUP

    def build(self) -> Scorer:
        return Scorer(
            self.model,
            self.settings,
            top_k=self.top_k,
            s3=self.s3,
            max_bytes=self.max_bytes,
            group=self.group,
        )


def run_local(spec: ScorerSpec, pending: Iterable[Item]) -> Iterator[list[Row]]:
    """Score in this process: chunks stay in flight on one Scorer so that reading,
    decoding (the decode pool) and inference (the batcher) overlap; as many images are
    in flight as the model's queue holds, so memory is bounded whatever the input count."""
    with spec.build() as scorer:
        chunk = max(1, min(scorer.max_batch_size, _LOCAL_CHUNK))
        depth = max(2, scorer.capacity // chunk)
        in_flight: deque[Future[list[Row]]] = deque()
        for items in chunked(pending, chunk):
            in_flight.append(scorer.submit(items))
            if len(in_flight) >= depth:
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()


# --------------------------------------------------------------------------- Ray
class RayScorer:
    """A Ray Data actor: one Scorer for the actor's life, one frame per batch."""

    def __init__(self, spec: ScorerSpec) -> None:
        self.scorer = spec.build()

    def __call__(self, batch: pandas.DataFrame) -> pandas.DataFrame:
        return score_frame(batch, self.scorer)


def _import(module: str, extra: str) -> Any:
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise ConfigError(
            f"--engine {extra} needs {module}: pip install 'tensorgate[{extra}]'"
        ) from None


def run_ray(
    spec: ScorerSpec,
    pending_file: Path,
    *,
    address: str | None = None,
    actors: int | None = None,
    batch_size: int = 64,
) -> Iterator[list[Row]]:
    """Score with Ray Data: ``map_batches`` over an actor pool, one actor per device.

    On CPU the pool has ``actors`` actors (default 1: each actor's engine already runs an
    instance per core); with ``device: cuda:N`` each actor takes one GPU and the pool has
    one per GPU in the cluster. ``address`` joins an existing cluster (default: start a
    local one, or the one ``RAY_ADDRESS`` names).
    """
    ray = _import("ray", "ray")
    data = _import("ray.data", "ray")
    if not ray.is_initialized():
        local = address is None and not os.environ.get("RAY_ADDRESS")
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
            # A cluster started here listens on loopback only.
            **({"_node_ip_address": "127.0.0.1"} if local else {}),
        )
    context = data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    gpu = (spec.settings.device or "").startswith("cuda")
    if actors is None:
        actors = max(1, int(ray.cluster_resources().get("GPU", 0))) if gpu else 1
    # Each actor asks for half a CPU so that Ray Data's readers still get cores on a
    # small machine; the actor's engine sizes its own threads.
    resources: dict[str, float] = {"num_gpus": 1.0} if gpu else {"num_cpus": 0.5}
    dataset = data.read_json(str(pending_file), lines=True)
    scored = dataset.map_batches(
        RayScorer,
        fn_constructor_args=(spec,),
        batch_size=batch_size,
        batch_format="pandas",
        compute=data.ActorPoolStrategy(size=actors),
        **resources,
    )
    for frame in scored.iter_batches(batch_format="pandas", batch_size=None):
        yield rows_from_frame(frame)


# ------------------------------------------------------------------------- Spark
_SPARK_SCHEMA = (
    "index LONG, input STRING, label STRING, class_index LONG, score DOUBLE, "
    "top_k STRING, answer STRING, error STRING"
)
_worker_scorers: dict[str, Scorer] = {}


def _spark_partition(
    spec: ScorerSpec, frames: Iterable[pandas.DataFrame]
) -> Iterator[pandas.DataFrame]:
    """``mapInPandas`` body: one Scorer per Python worker process, reused across tasks."""
    key = repr(spec)  # settings hold a dict: not hashable
    scorer = _worker_scorers.get(key)
    if scorer is None:
        scorer = _worker_scorers[key] = spec.build()
    for frame in frames:
        yield score_frame(frame, scorer)


def run_spark(
    spec: ScorerSpec,
    pending_file: Path,
    *,
    master: str | None = None,
    batch_size: int = 64,
) -> Iterator[list[Row]]:
    """Score with Spark: ``mapInPandas`` over the pending list's partitions.

    ``master`` defaults to ``local[N]`` over this machine's cores; an existing session
    (``SparkSession.getActiveSession``) is used as it is. Each Python worker runs one
    single-instance engine unless the settings ask for more.
    """
    sql = _import("pyspark.sql", "spark")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    session = sql.SparkSession.getActiveSession()
    if session is None:
        master = master or f"local[{os.cpu_count() or 1}]"
        builder = sql.SparkSession.builder.master(master).appName("tensorgate-batch")
        if master.startswith("local"):  # a session started here listens on loopback only
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            builder = builder.config("spark.driver.host", "127.0.0.1").config(
                "spark.driver.bindAddress", "127.0.0.1"
            )
        session = (
            builder.config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_size))
            .getOrCreate()
        )
    if spec.settings.instances is None:
        spec = replace(spec, settings=replace(spec.settings, instances=1))
    frame = session.read.schema("index LONG, input STRING").json(str(pending_file))
    frame = frame.repartition(session.sparkContext.defaultParallelism)
    scored = frame.mapInPandas(partial(_spark_partition, spec), schema=_SPARK_SCHEMA)
    records = scored.toLocalIterator(prefetchPartitions=True)
    rows = (Row(**record.asDict()) for record in records)  # type: ignore[typeddict-item]
    yield from chunked(rows, batch_size)
