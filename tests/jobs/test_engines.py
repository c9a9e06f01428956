"""The Ray and Spark engines on a real local Ray and a real Spark ``local[2]``: the same
rows as the local engine, S3 inputs from the SeaweedFS server included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tensorgate.config import EngineSettings
from tensorgate.jobs import run
from tensorgate.sources import S3Policy
from tests.seaweed import S3Server

MODEL = "efficientnet-lite0"


def manifest(folder: Path, photos: Path) -> Path:
    path = folder / "inputs.txt"
    lines = [*(str(p) for p in sorted(photos.rglob("*.*")) if p.suffix != ".txt")]
    lines += ["s3://photos/cats/cat.jpg", "s3://photos/broken.jpg", "s3://photos/missing.jpg"]
    path.write_text("\n".join(lines * 3) + "\n")
    return path


def answers(path: Path) -> dict[int, tuple[object, ...]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == len({r["index"] for r in rows})
    return {
        r["index"]: (r["input"], r["class_index"], r["error"] and r["error"].split(":")[0])
        for r in rows
    }


@pytest.mark.parametrize("engine", ["ray", "spark"])
def test_cluster_engines_agree_with_the_local_engine(
    engine: str,
    request: pytest.FixtureRequest,
    photos: Path,
    s3_env: S3Server,
    zoo_repository: Path,
    tmp_path: Path,
) -> None:
    request.getfixturevalue(f"local_{engine}")
    inputs = manifest(tmp_path, photos)
    settings = EngineSettings(repository=zoo_repository)
    s3 = S3Policy(endpoint_url=s3_env.endpoint)
    local = run(
        MODEL, str(inputs), tmp_path / "local.jsonl", settings=settings, s3=s3, progress=None
    )
    summary = run(
        MODEL,
        str(inputs),
        tmp_path / f"{engine}.jsonl",
        engine=engine,
        settings=settings,
        s3=s3,
        progress=None,
        spark_master="local[2]",
    )
    assert (summary.total, summary.scored, summary.failed) == (local.total, 21, 9)
    assert summary.engine == engine
    expected = answers(tmp_path / "local.jsonl")
    assert answers(tmp_path / f"{engine}.jsonl") == expected
    errors = {e for _, _, e in expected.values() if e}
    assert errors == {"ImageError", "SourceNotFoundError"}
