"""``run`` and ``tensorgate batch`` on the local engine: every input once, in every
format, bad inputs recorded, bad jobs refused."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tensorgate.cli import app
from tensorgate.config import EngineSettings
from tensorgate.engine import Engine
from tensorgate.errors import ConfigError, JobError, ModelNotFoundError
from tensorgate.jobs import COLUMNS, Scorer, run, score_partition
from tensorgate.protocol.models import statistics_v2
from tests.conftest import CAT_CLASSES, ESPRESSO

MODEL = "efficientnet-lite0"


def read_rows(path: Path) -> list[dict[str, object]]:
    if path.suffix == ".parquet":
        rows: list[dict[str, object]] = pq.read_table(path).to_pylist()
        return rows
    if path.suffix == ".csv":
        with path.open(newline="") as handle:
            return [
                {k: (v if v != "" else None) for k, v in row.items()}
                for row in csv.DictReader(handle)
            ]
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_a_folder_is_scored_with_bad_inputs_recorded(
    photos: Path, zoo_repository: Path, tmp_path: Path, suffix: str
) -> None:
    output = tmp_path / f"out{suffix}"
    stream = io.StringIO()
    summary = run(
        MODEL,
        str(photos),
        output,
        top_k=3,
        settings=EngineSettings(repository=zoo_repository),
        progress=stream,
    )
    rows = sorted(read_rows(output), key=lambda r: int(str(r["index"])))
    assert [list(r) for r in rows] == [list(COLUMNS)] * 4
    by_name = {Path(str(r["input"])).name: r for r in rows}
    assert set(by_name) == {"a.jpg", "b.jpg", "d.png", "e.jpg"}
    assert int(str(by_name["a.jpg"]["class_index"])) in CAT_CLASSES
    assert int(str(by_name["d.png"]["class_index"])) == ESPRESSO
    assert len(json.loads(str(by_name["a.jpg"]["top_k"]))) == 3
    assert by_name["a.jpg"]["error"] is None
    assert str(by_name["e.jpg"]["error"]).startswith("ImageError: JPEG image")
    assert by_name["e.jpg"]["label"] is None
    assert (summary.total, summary.scored, summary.failed, summary.resumed) == (4, 4, 1, 0)
    assert "4/4 (100.0%)" in stream.getvalue()
    assert not output.with_name(output.name + ".parts").exists()


def test_a_manifest_with_repeats_and_missing_files(
    photos: Path, zoo_repository: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "list.txt"
    manifest.write_text(f"{photos}/a.jpg\n{photos}/a.jpg\n{photos}/gone.jpg\n{photos}\n")
    output = tmp_path / "out.jsonl"
    summary = run(
        MODEL,
        str(manifest),
        output,
        settings=EngineSettings(repository=zoo_repository),
        progress=None,
    )
    rows = read_rows(output)
    assert [r["index"] for r in rows] == [0, 1, 2, 3]
    assert rows[0]["label"] == rows[1]["label"]
    assert str(rows[2]["error"]).startswith("SourceNotFoundError: ")
    assert "does not exist" in str(rows[2]["error"])
    assert str(rows[3]["error"]).startswith("SourceError: ")  # a directory is no image
    assert summary.failed == 2


def test_s3_inputs_from_a_real_server(s3_env: object, zoo_repository: Path, tmp_path: Path) -> None:
    from tensorgate.sources import S3Policy

    endpoint = s3_env.endpoint  # type: ignore[attr-defined]
    output = tmp_path / "out.jsonl"
    run(
        MODEL,
        "s3://photos/",
        output,
        settings=EngineSettings(repository=zoo_repository),
        s3=S3Policy(endpoint_url=endpoint),
        progress=None,
    )
    rows = {r["input"]: r for r in read_rows(output)}
    assert int(str(rows["s3://photos/cats/cat.jpg"]["class_index"])) in CAT_CLASSES
    assert int(str(rows["s3://photos/coffee.png"]["class_index"])) == ESPRESSO
    assert str(rows["s3://photos/broken.jpg"]["error"]).startswith("ImageError")


def test_a_finished_job_run_again_does_nothing(
    photos: Path, zoo_repository: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out.csv"
    settings = EngineSettings(repository=zoo_repository)
    run(MODEL, str(photos), output, settings=settings, progress=None)
    before = output.read_bytes()
    again = run(MODEL, str(photos), output, settings=settings, progress=None)
    assert again.state == "complete"
    assert again.scored == 0
    assert output.read_bytes() == before
    redone = run(MODEL, str(photos), output, settings=settings, progress=None, overwrite=True)
    assert redone.scored == 4


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"output": "out.xlsx"}, JobError, "suffix '.xlsx'"),
        ({"engine": "dask"}, JobError, "engine 'dask' is unknown"),
        ({"top_k": 0}, JobError, "at least 1"),
        ({"model": "nope"}, ModelNotFoundError, "'nope' is not in the repository"),
        ({"inputs": "/no/such/dir"}, JobError, "is not a directory"),
        ({"output": "missing/out.csv"}, JobError, "does not exist; create it first"),
    ],
)
def test_bad_jobs_are_refused_before_any_work(
    photos: Path,
    zoo_repository: Path,
    tmp_path: Path,
    kwargs: dict[str, object],
    error: type[Exception],
    match: str,
) -> None:
    arguments: dict[str, Any] = {
        "model": MODEL,
        "inputs": str(photos),
        "output": "out.csv",
    }
    arguments.update(kwargs)
    arguments["output"] = tmp_path / str(arguments["output"])
    with pytest.raises(error, match=match):
        run(**arguments, settings=EngineSettings(repository=zoo_repository), progress=None)
    assert not list(tmp_path.glob("out*"))


def test_an_empty_folder_is_a_job_error(zoo_repository: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(JobError, match="matched no images"):
        run(
            MODEL,
            str(tmp_path / "empty"),
            tmp_path / "out.csv",
            settings=EngineSettings(repository=zoo_repository),
            progress=None,
        )


def test_the_partition_function_scores_items_in_order(photos: Path, zoo_repository: Path) -> None:
    with Scorer(MODEL, EngineSettings(repository=zoo_repository), top_k=1) as scorer:
        rows = score_partition([(7, str(photos / "e.jpg")), (3, str(photos / "a.jpg"))], scorer)
    assert [r["index"] for r in rows] == [7, 3]
    assert rows[0]["error"] is not None
    assert rows[1]["class_index"] in CAT_CLASSES


def test_the_cli_runs_a_job_and_prints_a_summary(
    photos: Path, zoo_repository: Path, tmp_path: Path
) -> None:
    output = tmp_path / "scores.parquet"
    command = ["batch", "-m", MODEL, "-i", str(photos), "-o", str(output)]
    result = CliRunner().invoke(app, [*command, "-r", str(zoo_repository), "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {output}: 4 inputs; 4 scored this run")
    assert "1 failed" in result.output
    assert pq.read_table(output).num_rows == 4
    bad = CliRunner().invoke(
        app, [*command[:-1], str(tmp_path / "x.txt"), "-r", str(zoo_repository)]
    )
    assert bad.exit_code == 1
    assert "error: output" in bad.output


def test_the_docs_python_example_runs(photos: Path, zoo_repository: Path) -> None:
    import re
    import subprocess
    import sys

    docs = Path(__file__).resolve().parents[2] / "docs" / "batch.md"
    example = re.findall(r"```python\n(.*?)```", docs.read_text(), flags=re.S)[0]
    script = photos.parent / "example.py"
    script.write_text(example)
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=photos.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("wrote ")
    assert "4 inputs; 4 scored this run" in result.stdout
    assert (photos.parent / "scores.parquet").is_file()


def test_images_go_to_the_engine_a_group_at_a_time(photos: Path, zoo_repository: Path) -> None:
    """Groups of four: one call for a group of good images; a group with a corrupt one
    fails whole and is scored again an image at a time, so the rows are those of
    scoring every image alone."""
    good, bad, missing = (str(photos / n) for n in ("a.jpg", "e.jpg", "nowhere.jpg"))
    items = [(i, good) for i in range(6)] + [(6, bad), (7, good), (8, missing), (9, good)]

    def score(group: int) -> tuple[list[Any], int]:
        settings = EngineSettings(repository=zoo_repository)
        with Scorer(MODEL, settings, top_k=1, group=group) as scorer:
            rows = score_partition(items, scorer)

            async def successes(engine: Engine) -> int:
                (stats,) = [statistics_v2(v) for v in engine.statistics(MODEL)]
                return int(stats["inference_stats"]["success"]["count"])

            return rows, scorer._predictor.run(successes).result()

    grouped, grouped_calls = score(4)
    alone, alone_calls = score(1)
    assert [r["index"] for r in grouped] == list(range(10))
    for mine, theirs in zip(grouped, alone, strict=True):
        assert (mine["class_index"], mine["error"]) == (theirs["class_index"], theirs["error"])
        if mine["score"] is not None:
            assert mine["score"] == pytest.approx(theirs["score"], abs=1e-4)
    assert str(grouped[6]["error"]).startswith("ImageError")
    assert str(grouped[8]["error"]).startswith("SourceNotFoundError")
    assert alone_calls == 8  # every readable good image alone
    assert grouped_calls == 5  # [0-3] at once; [4-7] failed, then 4, 5, 7 alone; 9 alone
    with pytest.raises(ConfigError, match="group is 0; send at least 1 image per call"):
        Scorer(MODEL, EngineSettings(repository=zoo_repository), group=0)
