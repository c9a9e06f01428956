"""A catalogue index: item ids and their embeddings in a faiss index, in one folder.

    catalogue.index/
        manifest.json              what the index holds; written last (atomic rename)
        vectors-<build>.faiss      the faiss index
        ids-<build>.json           item ids, in the index's order
        embeddings.parquet         the embedding job's output (rebuilds need no model)

Small catalogues are searched exactly (``IndexFlatIP``: inner product, which is cosine
similarity for the L2-normalised vectors embed models answer). Above ``EXACT_LIMIT``
vectors the index is an inverted file of 8-bit scalar-quantised vectors
(``IndexIVFScalarQuantizer``: ``√N`` lists, an eighth of them — at least 32 — searched
per query, a quarter of the float32 memory): approximate, its recall@10 against exact search
measured in docs/benchmarks.md. A rebuild writes new files beside the old ones and swaps
``manifest.json`` in one rename, so a reader sees the old index or the new, never a mix.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tensorgate.errors import ConfigError
from tensorgate.tasks.results import Match, Matches
from tensorgate.types import Array

__all__ = [
    "EXACT_LIMIT",
    "Catalogue",
    "IndexManifest",
    "build_index",
    "read_manifest",
]

#: Catalogues up to this many vectors are searched exactly; larger ones approximately.
EXACT_LIMIT = 100_000
#: Inverted lists searched per query in an approximate index: an eighth of them, at
#: least 32 (measured at 1,000,000 vectors: recall@10 0.92 at 32 of 1,000 lists, 0.99
#: at 128; docs/benchmarks.md).
MIN_NPROBE = 32
MANIFEST = "manifest.json"


def _faiss() -> Any:
    try:
        import faiss
    except ImportError:
        raise ConfigError(
            "catalogue indexes need faiss: pip install 'tensorgate[search]'"
        ) from None
    return faiss


@dataclass(frozen=True, slots=True)
class IndexManifest:
    """What a catalogue index folder holds.

    Attributes:
        model: the embed model the vectors came from (a match step checks it).
        dimension: the vectors' length.
        count: how many items.
        kind: ``exact`` (flat inner product) or ``ivf`` (inverted file of 8-bit
            quantised vectors, approximate).
        lists: inverted lists (``ivf``; 0 for ``exact``).
        nprobe: lists searched per query (``ivf``).
        vectors / ids: the file names of this build.
        failed: catalogue images that could not be embedded (left out).
    """

    model: str
    dimension: int
    count: int
    kind: Literal["exact", "ivf"]
    lists: int
    nprobe: int
    vectors: str
    ids: str
    failed: int = 0


def read_manifest(folder: Path) -> IndexManifest:
    """The manifest of the index at ``folder``.

    Raises:
        ConfigError: no index there, or a manifest that is not one.
    """
    path = folder / MANIFEST
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return IndexManifest(**doc)
    except FileNotFoundError:
        raise ConfigError(
            f"{folder} holds no catalogue index ({MANIFEST} is missing); build one with "
            "'tensorgate index build --model MODEL --input CATALOGUE --output FOLDER'"
        ) from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path} is not a catalogue index manifest: {exc}") from None


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


def build_index(
    vectors: Array,
    ids: Sequence[str],
    folder: Path,
    *,
    model: str,
    exact_limit: int = EXACT_LIMIT,
    nprobe: int | None = None,
    failed: int = 0,
    seed: int = 0,
) -> IndexManifest:
    """Index ``vectors`` (N × D float32, one row per id) into ``folder`` and swap it in.

    Raises:
        ConfigError: no vectors, ids that do not match them, or faiss missing.
    """
    faiss = _faiss()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or not len(vectors):
        raise ConfigError(f"an index needs N × D vectors, got shape {list(vectors.shape)}")
    if len(ids) != len(vectors):
        raise ConfigError(f"{len(ids)} ids for {len(vectors)} vectors; give one id per vector")
    count, dimension = vectors.shape
    if count <= exact_limit:
        index = faiss.IndexFlatIP(dimension)
        kind: Literal["exact", "ivf"] = "exact"
        lists = 0
    else:
        lists = int(math.sqrt(count))
        quantizer = faiss.IndexFlatIP(dimension)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dimension, lists, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        index.cp.niter = 10  # k-means rounds: the lists settle well before faiss's 25
        rng = np.random.default_rng(seed)
        sample = min(count, 40 * lists)  # faiss asks for at least 39 points a list
        index.train(vectors[np.sort(rng.choice(count, sample, replace=False))])
        nprobe = nprobe or min(lists, max(MIN_NPROBE, lists // 8))
        index.nprobe = nprobe
        kind = "ivf"
    for start in range(0, count, 65_536):
        index.add(vectors[start : start + 65_536])
    folder.mkdir(parents=True, exist_ok=True)
    build = secrets.token_hex(4)
    manifest = IndexManifest(
        model, dimension, count, kind, lists, nprobe or 0, f"vectors-{build}.faiss",
        f"ids-{build}.json", failed,
    )  # fmt: skip
    faiss.write_index(index, str(folder / manifest.vectors))
    _write_atomic(folder / manifest.ids, json.dumps(list(ids)).encode())
    try:
        previous: IndexManifest | None = read_manifest(folder)
    except ConfigError:  # none yet, or a broken one this build replaces
        previous = None
    _write_atomic(folder / MANIFEST, json.dumps(asdict(manifest), indent=1).encode())
    if previous:  # readers that loaded the old files keep them in memory
        for name in (previous.vectors, previous.ids):
            if name not in (manifest.vectors, manifest.ids):
                (folder / name).unlink(missing_ok=True)
    return manifest


class Catalogue:
    """A loaded catalogue index: search it with query vectors (thread-safe)."""

    def __init__(self, folder: Path) -> None:
        faiss = _faiss()
        self.folder = folder
        self.manifest = read_manifest(folder)
        try:
            self._index = faiss.read_index(str(folder / self.manifest.vectors))
            self.ids: list[str] = json.loads((folder / self.manifest.ids).read_text())
        except (OSError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"{folder}: the index files cannot be read: {exc}") from None
        if self._index.ntotal != len(self.ids) or self._index.d != self.manifest.dimension:
            raise ConfigError(
                f"{folder}: the index holds {self._index.ntotal} vectors of "
                f"{self._index.d} floats but the manifest says {self.manifest.count} of "
                f"{self.manifest.dimension}; build it again"
            )

    @property
    def size(self) -> int:
        return len(self.ids)

    def search(self, vectors: Array, top: int, nprobe: int | None = None) -> list[Matches]:
        """The ``top`` nearest items of each query row (best first, score: cosine);
        ``nprobe``: lists searched in an approximate index (None: the manifest's)."""
        faiss = _faiss()
        queries = np.ascontiguousarray(vectors, dtype=np.float32).reshape(
            -1, self.manifest.dimension
        )
        if self.manifest.kind == "ivf":
            params = faiss.SearchParametersIVF(nprobe=nprobe or self.manifest.nprobe)
            scores, rows = self._index.search(queries, min(top, self.size), params=params)
        else:
            scores, rows = self._index.search(queries, min(top, self.size))
        return [
            Matches(
                tuple(
                    Match(self.ids[r], float(s))
                    for s, r in zip(found_scores, found_rows, strict=True)
                    if r >= 0
                )
            )
            for found_scores, found_rows in zip(scores, rows, strict=True)
        ]
