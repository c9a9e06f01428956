"""A real ``tensorgate batch`` process killed with SIGKILL part-way, then run again with
the same command: every input is in the output exactly once."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from skimage import data

from tests.jobs.conftest import jpeg

INPUTS = 480


def test_a_killed_job_resumes_with_every_input_exactly_once(
    zoo_repository: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    sources = {"cat": data.chelsea(), "coffee": data.coffee(), "rocket": data.rocket()}
    for name, pixels in sources.items():
        (folder / f"{name}.jpg").write_bytes(jpeg(pixels, (320, 240)))
    (folder / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    names = [*sources, "bad"]
    manifest = tmp_path / "manifest.txt"
    manifest.write_text("".join(f"images/{names[i % 4]}.jpg\n" for i in range(INPUTS)))
    output = tmp_path / "scores.jsonl"
    parts = tmp_path / "scores.jsonl.parts"
    command = [
        sys.executable, "-m", "tensorgate", "batch", "-m", "efficientnet-lite0",
        "-i", str(manifest), "-o", str(output), "-r", str(zoo_repository),
        "--commit-every", "16", "--quiet",
    ]  # fmt: skip

    log = tmp_path / "first.log"
    with log.open("wb") as sink, subprocess.Popen(command, stdout=sink, stderr=sink) as first:
        deadline = time.monotonic() + 120
        try:
            while len(list(parts.glob("part-*.jsonl"))) < 3:  # wait for progress, not time
                assert first.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "no parts were committed in 120 s"
                time.sleep(0.01)
        finally:
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
    assert first.returncode == -signal.SIGKILL
    assert not output.exists()
    committed = sum(len(p.read_text().splitlines()) for p in parts.glob("part-*.jsonl"))
    assert 0 < committed < INPUTS, "the kill landed part-way"

    second = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert second.returncode == 0, second.stderr
    assert f"{committed:,} done by an earlier run" in second.stdout
    assert f"{INPUTS - committed:,} scored this run" in second.stdout
    assert f"{INPUTS // 4:,} failed" in second.stdout

    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert sorted(r["index"] for r in rows) == list(range(INPUTS))
    labels: dict[str, set[str | None]] = {}
    for row in rows:
        assert row["input"] == str(folder / f"{names[row['index'] % 4]}.jpg")
        labels.setdefault(row["input"], set()).add(row["label"])
        assert (row["error"] is None) == (not row["input"].endswith("bad.jpg"))
    assert all(len(found) == 1 for found in labels.values()), "same image, same answer"
    assert not parts.exists()


def test_a_full_disk_is_a_clear_error_and_no_committed_row_is_lost(
    zoo_repository: Path, tmp_path: Path
) -> None:
    """Files may not grow past 4 KB (RLIMIT_FSIZE: writes past it fail with EFBIG, as
    on a full disk): the job stops with an error that says what is committed and how to
    go on, leaves no partial file behind, and run again with room writes every input
    exactly once."""
    import resource

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(12):
        (folder / f"{i:02d}.jpg").write_bytes(jpeg(data.chelsea(), (160 + i, 120)))
    output = tmp_path / "scores.jsonl"
    command = [
        sys.executable, "-m", "tensorgate", "batch", "-m", "efficientnet-lite0",
        "-i", str(folder), "-o", str(output), "-r", str(zoo_repository),
        "--commit-every", "4", "--quiet",
    ]  # fmt: skip

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    full = subprocess.run(command, capture_output=True, text=True, preexec_fn=small_files)
    assert full.returncode == 1, full.stdout + full.stderr
    said = re.search(
        r"writing (results|the output) failed: File too large .* (\d+) of 12", full.stderr
    )
    assert said is not None, full.stderr
    assert "run the same command again to resume" in full.stderr
    committed = int(said.group(2))
    assert not output.exists()
    assert not list(tmp_path.glob(".scores.jsonl.tmp"))  # its space was given back
    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert sorted(r["index"] for r in rows) == list(range(12))
    assert ("done by an earlier run" in again.stdout) == (committed > 0), again.stdout
