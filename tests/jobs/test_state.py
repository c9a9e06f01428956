"""The job state folder: frozen inputs, atomic parts, resume, and refusing another job."""

from __future__ import annotations

from pathlib import Path

import pytest

from tensorgate.errors import JobError
from tensorgate.jobs.rows import Row, error_row
from tensorgate.jobs.state import Bitmap, JobSpec, JobState


def spec(tmp_path: Path, model: str = "m") -> JobSpec:
    return JobSpec(model=model, inputs="in", output=str(tmp_path / "out.jsonl"), top_k=5)


def rows(indices: list[int]) -> list[Row]:
    return [error_row(i, f"f{i}", ValueError("x")) for i in indices]


def test_a_fresh_job_freezes_its_inputs(tmp_path: Path) -> None:
    state = JobState(spec(tmp_path))
    assert state.open(iter(["a", "b", "c"])) == "fresh"
    assert state.total == 3
    assert list(state.pending()) == [(0, "a"), (1, "b"), (2, "c")]
    assert (state.folder / "inputs.txt").read_text() == "a\nb\nc\n"


def test_committed_parts_survive_and_only_they_count(tmp_path: Path) -> None:
    first = JobState(spec(tmp_path))
    first.open(iter(["a", "b", "c", "d"]))
    first.commit(rows([2, 0]))
    (first.folder / "part-000001.jsonl.tmp").write_text('{"index": 1}\n')  # died mid-write
    second = JobState(spec(tmp_path))
    assert second.open(iter(["ignored"])) == "resumed"  # the frozen list is used
    assert (second.done_count, second.failed_count, second.total) == (2, 2, 4)
    assert list(second.pending()) == [(1, "b"), (3, "d")]
    assert not list(second.folder.glob("*.tmp"))
    second.commit(rows([1, 3]))
    assert [r["index"] for r in second.rows()] == [0, 2, 1, 3]
    assert sorted(p.name for p in second.folder.glob("part-*")) == [
        "part-000000.jsonl",
        "part-000001.jsonl",
    ]


def test_a_row_committed_twice_counts_once(tmp_path: Path) -> None:
    state = JobState(spec(tmp_path))
    state.open(iter(["a", "b"]))
    state.commit(rows([0]))
    state.commit(rows([0, 1]))
    assert state.done_count == 2


def test_a_different_job_in_the_way_is_refused(tmp_path: Path) -> None:
    JobState(spec(tmp_path)).open(iter(["a"]))
    with pytest.raises(JobError, match="unfinished job that differs"):
        JobState(spec(tmp_path, model="other")).open(iter(["a"]))
    assert JobState(spec(tmp_path, model="other")).open(iter(["a"]), overwrite=True) == "fresh"


def test_an_existing_output_without_state_is_complete(tmp_path: Path) -> None:
    (tmp_path / "out.jsonl").write_text("{}\n")
    assert JobState(spec(tmp_path)).open(iter(["a"])) == "complete"


def test_killed_after_the_merge_is_complete_and_cleaned(tmp_path: Path) -> None:
    state = JobState(spec(tmp_path))
    state.open(iter(["a"]))
    state.commit(rows([0]))
    (tmp_path / "out.jsonl").write_text("{}\n")  # merged, not yet cleaned up
    assert JobState(spec(tmp_path)).open(iter(["a"])) == "complete"
    assert not state.folder.exists()


def test_no_inputs_is_a_job_error_and_leaves_nothing(tmp_path: Path) -> None:
    state = JobState(spec(tmp_path))
    with pytest.raises(JobError, match="matched no images"):
        state.open(iter([]))
    assert not state.folder.exists()


def test_killed_while_listing_starts_over(tmp_path: Path) -> None:
    state = JobState(spec(tmp_path))
    state.folder.mkdir()
    (state.folder / "inputs.txt.tmp").write_text("half")
    assert JobState(spec(tmp_path)).open(iter(["a", "b"])) == "fresh"


def test_bitmap_marks_each_index_once() -> None:
    bits = Bitmap(20)
    assert bits.add(17)
    assert not bits.add(17)
    assert bits[17]
    assert not bits[16]
