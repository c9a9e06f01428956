"""Batch jobs of every task: detections and embeddings as typed Parquet columns, CSV
and JSON lines; the Ray and Spark engines give the local engine's answers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tensorgate.config import EngineSettings
from tensorgate.jobs import run
from tests.conftest import PHOTOS


@pytest.fixture
def folder(nudenet: tuple[Path, dict[str, Any]], tmp_path: Path) -> Path:
    """The five photos and a truncated JPEG."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in PHOTOS:
        shutil.copy(nudenet[0] / f"{name}.jpg", photos / f"{name}.jpg")
    (photos / "zz-broken.jpg").write_bytes((nudenet[0] / "camera.jpg").read_bytes()[:300])
    return photos


def settings(nudenet: tuple[Path, dict[str, Any]]) -> EngineSettings:
    return EngineSettings(repository=nudenet[0] / "repository", instances=1)


def test_detections_are_a_typed_list_of_structs(
    nudenet: tuple[Path, dict[str, Any]], folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "boxes.parquet"
    summary = run("nudenet-yolov8", str(folder), out, settings=settings(nudenet), progress=None)
    assert (summary.total, summary.scored, summary.failed) == (6, 6, 1)
    table = pq.read_table(out)
    assert table.schema.field("detections").type == pa.list_(
        pa.struct(
            [
                ("box", pa.list_(pa.float32(), 4)),
                ("score", pa.float32()),
                ("index", pa.int64()),
                ("label", pa.string()),
                ("parts", pa.string()),
            ]
        )
    )
    rows = {Path(r["input"]).stem: r for r in table.to_pylist()}
    assert [d["label"] for d in rows["astronaut"]["detections"]] == ["FACE_FEMALE"]
    assert (rows["astronaut"]["width"], rows["astronaut"]["height"]) == (512, 512)
    assert rows["astronaut"]["detections"][0]["parts"] is None  # not a pipeline
    assert rows["chelsea"]["detections"] == []  # nothing found: an empty list
    assert rows["zz-broken"]["detections"] is None
    assert rows["zz-broken"]["error"].startswith("ImageError: ")


def test_embeddings_are_a_fixed_size_float32_list(
    nudenet: tuple[Path, dict[str, Any]], folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "vectors.parquet"
    run("efficientnet-lite0-embed", str(folder), out, settings=settings(nudenet), progress=None)
    table = pq.read_table(out)
    assert table.schema.field("embedding").type == pa.list_(pa.float32(), 1280)
    vectors = np.stack([v for v in table.column("embedding").to_pylist() if v is not None])
    assert vectors.shape == (5, 1280)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_csv_and_json_lines_carry_the_answer(
    nudenet: tuple[Path, dict[str, Any]], folder: Path, tmp_path: Path
) -> None:
    run(
        "nudenet-yolov8", str(folder), tmp_path / "b.csv", settings=settings(nudenet), progress=None
    )
    header, *lines = (tmp_path / "b.csv").read_text().splitlines()
    assert header == "index,input,answer,error"
    assert len(lines) == 6
    run(
        "nudenet-yolov8",
        str(folder),
        tmp_path / "b.jsonl",
        settings=settings(nudenet),
        progress=None,
    )
    rows = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    astronaut = next(r for r in rows if r["input"].endswith("astronaut.jpg"))
    assert astronaut["box_format"] == "xyxy"
    assert astronaut["detections"][0]["label"] == "FACE_FEMALE"


@pytest.mark.parametrize(
    ("engine", "model"), [("ray", "nudenet-yolov8"), ("spark", "efficientnet-lite0-embed")]
)
def test_cluster_engines_run_the_other_tasks(
    engine: str,
    model: str,
    request: pytest.FixtureRequest,
    nudenet: tuple[Path, dict[str, Any]],
    folder: Path,
    tmp_path: Path,
) -> None:
    request.getfixturevalue(f"local_{engine}")
    local = tmp_path / "local.jsonl"
    run(model, str(folder), local, settings=settings(nudenet), progress=None)
    remote = tmp_path / f"{engine}.jsonl"
    summary = run(
        model,
        str(folder),
        remote,
        engine=engine,
        settings=settings(nudenet),
        progress=None,
        spark_master="local[2]",
    )
    assert (summary.scored, summary.failed) == (6, 1)

    def by_index(path: Path) -> dict[int, dict[str, Any]]:
        return {r["index"]: r for r in map(json.loads, path.read_text().splitlines())}

    ours, theirs = by_index(local), by_index(remote)
    assert ours.keys() == theirs.keys()
    for index, row in ours.items():
        other = theirs[index]
        assert other["error"] == row["error"]
        if model == "nudenet-yolov8" and row["error"] is None:
            assert [d["label"] for d in other["detections"]] == [
                d["label"] for d in row["detections"]
            ]
        elif row["error"] is None:
            np.testing.assert_allclose(other["embedding"], row["embedding"], atol=1e-6)


def test_text_jobs_write_regions_and_strings(
    ocr: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    folder, reference = ocr
    engine_settings = EngineSettings(repository=folder / "repository", instances=1)
    pages = tmp_path / "pages"
    pages.mkdir()
    shutil.copy(folder / "lines.png", pages / "lines.png")
    run(
        "pp-ocrv6-det",
        str(pages),
        tmp_path / "regions.parquet",
        settings=engine_settings,
        progress=None,
    )
    (row,) = pq.read_table(tmp_path / "regions.parquet").to_pylist()
    assert len(row["regions"]) == len(reference["lines"]["boxes"])
    assert len(row["regions"][0]["polygon"]) == 4
    crops = tmp_path / "crops"
    crops.mkdir()
    for crop in reference["lines"]["crops"]:
        shutil.copy(crop, crops / Path(crop).name)
    run(
        "pp-ocrv6-rec",
        str(crops),
        tmp_path / "text.parquet",
        settings=engine_settings,
        progress=None,
    )
    table = pq.read_table(tmp_path / "text.parquet")
    assert table.schema.field("text").type == pa.string()
    assert sorted(table.column("text").to_pylist()) == sorted(reference["lines"]["texts"])


def test_a_pipeline_job_writes_each_regions_text(
    ocr: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    folder, _ = ocr
    pages = tmp_path / "pages"
    pages.mkdir()
    for name in ("lines", "sign"):
        shutil.copy(folder / f"{name}.png", pages / f"{name}.png")
    engine_settings = EngineSettings(repository=folder / "repository", instances=1)
    out = tmp_path / "read.parquet"
    summary = run("pp-ocrv6", str(pages), out, settings=engine_settings, progress=None)
    assert (summary.total, summary.scored, summary.failed) == (2, 2, 0)
    rows = {Path(r["input"]).stem: r for r in pq.read_table(out).to_pylist()}
    texts = [json.loads(r["parts"])["text"]["text"] for r in rows["sign"]["regions"]]
    assert texts == ["FRESH COFFEE", "Open daily 7:30 - 18:00"]
    run("pp-ocrv6", str(pages), tmp_path / "read.jsonl", settings=engine_settings, progress=None)
    lines = [json.loads(line) for line in (tmp_path / "read.jsonl").read_text().splitlines()]
    nested = {Path(r["input"]).stem: r for r in lines}
    assert nested["lines"]["regions"][0]["text"]["text"] == "Serving vision models"
