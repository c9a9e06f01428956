"""Catalogue indexes: exact search below the limit, an inverted file above it (recall@10
against exact search measured), atomic rebuilds, and a manifest checked on load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tensorgate.errors import ConfigError
from tensorgate.search.index import Catalogue, build_index, read_manifest

pytest.importorskip("faiss")


def clustered(count: int, dimension: int, seed: int = 0) -> np.ndarray:
    """Unit vectors around 200 centres: the shape real embeddings have (random vectors
    in many dimensions have no neighbours worth the name)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((200, dimension)).astype(np.float32)
    vectors = centres[rng.integers(0, 200, count)] + 0.6 * rng.standard_normal(
        (count, dimension)
    ).astype(np.float32)
    unit: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit


def test_a_small_catalogue_is_searched_exactly(tmp_path: Path) -> None:
    vectors = clustered(500, 32)
    ids = [f"item-{i}" for i in range(500)]
    manifest = build_index(vectors, ids, tmp_path / "idx", model="m")
    assert (manifest.kind, manifest.count, manifest.dimension) == ("exact", 500, 32)
    catalogue = Catalogue(tmp_path / "idx")
    (found,) = catalogue.search(vectors[7], 3)
    assert found.items[0].id == "item-7"
    assert found.items[0].score == pytest.approx(1.0, abs=1e-5)
    scores = [m.score for m in found.items]
    assert scores == sorted(scores, reverse=True)
    expected = np.argsort(-(vectors @ vectors[7]))[:3]
    assert [m.id for m in found.items] == [f"item-{i}" for i in expected]


def test_a_large_catalogue_is_approximate_with_high_recall(tmp_path: Path) -> None:
    vectors = clustered(20_000, 64)
    ids = [str(i) for i in range(20_000)]
    manifest = build_index(vectors, ids, tmp_path / "idx", model="m", exact_limit=5_000)
    assert manifest.kind == "ivf"
    assert manifest.lists == int(np.sqrt(20_000))
    catalogue = Catalogue(tmp_path / "idx")
    queries = clustered(100, 64, seed=1)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    found = catalogue.search(queries, 10)
    recall = np.mean(
        [
            len({m.id for m in f.items} & {str(i) for i in e}) / 10
            for f, e in zip(found, exact, strict=True)
        ]
    )
    assert recall >= 0.9, recall


def test_a_rebuild_swaps_the_manifest_and_drops_the_old_files(tmp_path: Path) -> None:
    folder = tmp_path / "idx"
    first = build_index(clustered(50, 8), [f"a{i}" for i in range(50)], folder, model="m")
    old = Catalogue(folder)
    second = build_index(clustered(60, 8), [f"b{i}" for i in range(60)], folder, model="m")
    assert first.vectors != second.vectors
    assert not (folder / first.vectors).exists()
    assert read_manifest(folder).count == 60
    assert old.search(clustered(1, 8, seed=3), 1)[0].items[0].id.startswith("a")  # in memory
    assert Catalogue(folder).search(clustered(1, 8, seed=3), 1)[0].items[0].id.startswith("b")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["manifest.json", second.vectors, second.ids]
    )


def test_missing_and_broken_indexes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tensorgate index build"):
        Catalogue(tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a catalogue index manifest"):
        Catalogue(tmp_path)
    build_index(clustered(10, 8), [str(i) for i in range(10)], tmp_path, model="m")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps({**manifest, "count": 11, "dimension": 9}))
    with pytest.raises(ConfigError, match="build it again"):
        Catalogue(tmp_path)
    with pytest.raises(ConfigError, match="one id per vector"):
        build_index(clustered(10, 8), ["x"], tmp_path, model="m")
