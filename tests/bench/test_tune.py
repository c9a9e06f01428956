"""``tensorgate tune``: the coordinate search (pure, on a scripted score) and one real
tuning run on a scratch copy of the model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tensorgate.bench.tune import Candidate, Trial, apply, search, write_config
from tensorgate.cli import app
from tensorgate.repository.manifest import load_config

START = Candidate(instances=2, threads=1, max_batch_size=32, max_queue_delay_ms=0.0)


def scripted(candidate: Candidate) -> Trial:
    """A made-up landscape: 1×2 threads best, batch 8 best, delay 2 best."""
    value = 100.0
    value += 20 if (candidate.instances, candidate.threads) == (1, 2) else 0
    value += {8: 15, 16: 5}.get(candidate.max_batch_size, 0)
    value += 7 if candidate.max_queue_delay_ms == 2.0 else 0
    return Trial(candidate, value, 50.0, 8)


def test_the_search_walks_each_coordinate_once() -> None:
    seen: list[Candidate] = []
    best, trials = search(START, scripted, cores=2, on_trial=lambda t: seen.append(t.candidate))
    assert best.candidate == Candidate(1, 2, 8, 2.0)
    assert best.images_per_s == 142.0
    assert trials[0].candidate == START
    assert len(seen) == len(set(seen)) == len(trials)
    # 3 core splits + 4 other batch sizes + 3 other delays, plus the start
    assert len(trials) == 1 + 2 + 4 + 3


def test_a_config_with_nothing_better_stays(tmp_path: Path) -> None:
    best, _ = search(START, lambda c: Trial(c, 100.0 if c == START else 50.0, 10, 1), cores=2)
    assert best.candidate == START


def test_the_winner_is_written_with_a_backup(lite0_dir: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "efficientnet-lite0"
    shutil.copytree(lite0_dir, model_dir)
    original = (model_dir / "config.yaml").read_text()
    write_config(model_dir, Candidate(1, 2, 8, 2.0))
    assert (model_dir / "config.yaml.bak").read_text() == original
    config = load_config(model_dir)
    assert (config.instances.count, config.instances.threads) == (1, 2)
    assert config.max_batch_size == 8
    assert config.batching.max_queue_delay_s == pytest.approx(0.002)
    assert config.preprocess is not None  # the rest is kept


def test_preferred_batch_sizes_above_the_new_maximum_are_dropped() -> None:
    document = {"dynamic_batching": {"preferred_batch_sizes": [4, 16, 32]}}
    assert apply(document, Candidate(1, 1, 8, 0))["dynamic_batching"] == {
        "preferred_batch_sizes": [4],
        "max_queue_delay_ms": 0,
    }


def test_a_real_tuning_run_writes_a_config_that_serves(lite0_dir: Path, tmp_path: Path) -> None:
    repository = tmp_path / "repository"
    shutil.copytree(lite0_dir, repository / "efficientnet-lite0")
    result = CliRunner().invoke(
        app,
        [
            "tune", "-r", str(repository), "--seconds", "0.3", "--concurrency", "2",
            "--batch-sizes", "32", "--delays-ms", "0", "--p99-target-ms", "5000",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("| ") and "inst" in line]
    assert len(rows) == 3  # the start (2×1) and the other splits of 2 cores (1×1, 1×2)
    assert "best: " in result.output
    written = (repository / "efficientnet-lite0" / "config.yaml").read_text()
    if "config.yaml unchanged" not in result.output:
        assert (repository / "efficientnet-lite0" / "config.yaml.bak").is_file()
    load_config(repository / "efficientnet-lite0")
    assert yaml.safe_load(written)["max_batch_size"] == 32


def test_an_impossible_target_is_said_and_nothing_written(lite0_dir: Path, tmp_path: Path) -> None:
    repository = tmp_path / "repository"
    shutil.copytree(lite0_dir, repository / "efficientnet-lite0")
    before = (repository / "efficientnet-lite0" / "config.yaml").read_text()
    result = CliRunner().invoke(
        app,
        [
            "tune", "-r", str(repository), "--seconds", "0.2", "--concurrency", "2",
            "--batch-sizes", "32", "--delays-ms", "0", "--p99-target-ms", "0.01",
        ],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "no configuration met p99 ≤ 0.01 ms" in result.output
    assert (repository / "efficientnet-lite0" / "config.yaml").read_text() == before
