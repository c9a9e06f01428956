"""``tensorgate index build``: embed a catalogue as a batch job, then index it.

The embedding is an ordinary batch job (``tensorgate.jobs.run``) writing
``<output>/embeddings.parquet``: a progress bar, any input a job takes (a folder, a
manifest, an ``s3://`` prefix), and killed at any point, the same command resumes where
it stopped. The index is then built from that file and swapped in.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from tensorgate.config import EngineSettings
from tensorgate.errors import JobError
from tensorgate.jobs import run as run_job
from tensorgate.search.index import EXACT_LIMIT, IndexManifest, build_index
from tensorgate.sources import S3Policy

__all__ = ["BuildSummary", "build_catalogue", "item_id"]

EMBEDDINGS = "embeddings.parquet"


@dataclass(frozen=True, slots=True)
class BuildSummary:
    """What a build did.

    Attributes:
        folder: the index folder.
        manifest: what it holds now.
        embedded: images embedded by this run (0 when the embeddings were there).
        seconds: how long the embedding and the indexing took.
    """

    folder: Path
    manifest: IndexManifest
    embedded: int
    embed_seconds: float
    index_seconds: float

    def render(self) -> str:
        m = self.manifest
        rate = self.embedded / self.embed_seconds if self.embedded and self.embed_seconds else 0
        return (
            f"indexed {m.count:,} items ({m.dimension} floats, {m.kind}"
            + (f", {m.lists} lists, nprobe {m.nprobe}" if m.kind == "ivf" else "")
            + f") into {self.folder}; {m.failed} failed; embedded {self.embedded:,} images"
            + (f" at {rate:.1f}/s" if rate else "")
            + f", indexed in {self.index_seconds:.2f} s"
        )


def item_id(source: str, inputs: str) -> str:
    """A catalogue item's id: its path inside the input folder without the suffix
    (``shoes/red-42``), else the source as listed (a manifest line, an ``s3://`` URI)."""
    root = Path(inputs).expanduser()
    if not inputs.startswith("s3://") and root.is_dir():
        path = Path(source)
        try:
            return path.relative_to(root.resolve()).with_suffix("").as_posix()
        except ValueError:
            try:
                return path.relative_to(root).with_suffix("").as_posix()
            except ValueError:
                return source
    return source


def build_catalogue(
    model: str,
    inputs: str,
    output: Path,
    *,
    settings: EngineSettings | None = None,
    s3: S3Policy | None = None,
    overwrite: bool = False,
    progress: TextIO | None = sys.stderr,
    exact_limit: int = EXACT_LIMIT,
) -> BuildSummary:
    """Embed every image ``inputs`` names with ``model`` and index the vectors at
    ``output`` (a folder).

    Raises:
        JobError: the model is not an embed model, no image could be embedded, or
            anything a batch job raises.
    """
    import time

    import pyarrow.parquet as pq

    output = output.expanduser().resolve()
    output.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    summary = run_job(
        model,
        inputs,
        output / EMBEDDINGS,
        settings=settings,
        s3=s3,
        overwrite=overwrite,
        progress=progress,
    )
    embedded = time.perf_counter() - started
    table = pq.read_table(output / EMBEDDINGS)
    if "embedding" not in table.column_names:
        raise JobError(
            f"model {model!r} does not embed (its rows have no 'embedding'); index with an "
            "embed model such as efficientnet-lite0-embed"
        )
    rows = [r for r in table.select(["input", "embedding"]).to_pylist() if r["embedding"]]
    if not rows:
        raise JobError(f"no image of {inputs!r} could be embedded; see the errors in {output}")
    vectors = np.asarray([r["embedding"] for r in rows], dtype=np.float32)
    ids = [item_id(r["input"], inputs) for r in rows]
    started = time.perf_counter()
    manifest = build_index(
        vectors,
        ids,
        output,
        model=model,
        exact_limit=exact_limit,
        failed=table.num_rows - len(rows),
    )
    return BuildSummary(output, manifest, summary.scored, embedded, time.perf_counter() - started)
