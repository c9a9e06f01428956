"""A job's durable state beside its output, which makes a killed job resumable.

``<output>.parts/`` holds::

    inputs.txt          the frozen input list, one path or URI a line (line N = index N)
    job.json            what the job is (model, inputs, top-k, format) and how many inputs;
                        written after inputs.txt, so its presence means the list is whole
    part-000000.jsonl   committed results: written to a .tmp, fsynced, then renamed

Only committed parts count. A row scored but not yet committed when the process dies is
scored again on the next run; a committed one never is — so every input appears in the
output exactly once, whatever instant the job was killed at. Finishing merges the parts
into the output (written to a temporary name, then renamed) and removes the folder.
Which inputs are done is one bit each in memory (12.5 MB for 100 million inputs).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, cast

from tensorgate.errors import JobError
from tensorgate.jobs.rows import Row

__all__ = ["Bitmap", "JobSpec", "JobState", "Opened"]

Opened = Literal["fresh", "resumed", "complete"]
_PART = re.compile(r"^part-(\d{6,})\.jsonl$")


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What a job is; a resumed job must be the same job.

    Attributes:
        model: the repository model that scores the inputs.
        inputs: the input spec as given (directory, glob, manifest, s3://bucket/prefix).
        output: the output file; its suffix picks the format.
        top_k: classes kept per input.
    """

    model: str
    inputs: str
    output: str
    top_k: int


class Bitmap:
    """One bit per input: is it in a committed part?"""

    def __init__(self, size: int) -> None:
        self._bits = bytearray((size + 7) // 8)

    def __getitem__(self, index: int) -> bool:
        return bool(self._bits[index >> 3] & (1 << (index & 7)))

    def add(self, index: int) -> bool:
        """Mark ``index``; False if it was already marked."""
        byte, bit = index >> 3, 1 << (index & 7)
        if self._bits[byte] & bit:
            return False
        self._bits[byte] |= bit
        return True


def _write_atomically(path: Path, lines: Iterable[str]) -> int:
    """Write ``lines`` to ``path`` through a fsynced temporary file; the line count."""
    temporary = path.with_name(path.name + ".tmp")
    count = 0
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            for line in lines:
                handle.write(line)
                handle.write("\n")
                count += 1
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:
        temporary.unlink(missing_ok=True)  # give back the space a full disk needs
        raise
    temporary.replace(path)
    return count


class JobState:
    """The state folder of one job's output."""

    def __init__(self, spec: JobSpec) -> None:
        self.spec = spec
        self.output = Path(spec.output)
        self.folder = self.output.with_name(self.output.name + ".parts")
        self.total = 0
        self.done_count = 0
        self.failed_count = 0
        self._done = Bitmap(0)
        self._next_part = 0

    # ------------------------------------------------------------------ opening
    def open(self, inputs: Iterator[str] | None, *, overwrite: bool = False) -> Opened:
        """Start or resume. ``inputs`` is listed only for a fresh job.

        Returns ``complete`` when the output exists and no unfinished job is recorded
        beside it (nothing to do), ``resumed`` when committed parts were found.

        Raises:
            JobError: the folder holds a different job's state, or no input was listed.
        """
        if overwrite:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.output.unlink(missing_ok=True)
        job_file = self.folder / "job.json"
        if not job_file.is_file():
            if self.output.exists():
                return "complete"
            shutil.rmtree(self.folder, ignore_errors=True)  # killed while listing
            self._start(inputs)
            return "fresh"
        recorded = json.loads(job_file.read_text(encoding="utf-8"))
        if recorded.get("spec") != asdict(self.spec):
            raise JobError(
                f"{self.folder} holds an unfinished job that differs from this one "
                f"({recorded.get('spec')}); rerun that job's command to finish it, or pass "
                "--overwrite to discard it"
            )
        self.total = int(recorded["total"])
        if self.output.exists():  # killed after the merge, before the clean-up
            shutil.rmtree(self.folder)
            return "complete"
        self._load_parts()
        return "resumed" if self.done_count else "fresh"

    def _start(self, inputs: Iterator[str] | None) -> None:
        if inputs is None:
            raise JobError(f"no inputs were given for the new job writing {self.output}")
        self.folder.mkdir(parents=True)
        self.total = _write_atomically(self.folder / "inputs.txt", inputs)
        if self.total == 0:
            shutil.rmtree(self.folder)
            raise JobError(
                f"input {self.spec.inputs!r} matched no images (.jpg, .jpeg, .png, .webp); "
                "check the path, glob or prefix"
            )
        document = {"spec": asdict(self.spec), "total": self.total}
        _write_atomically(self.folder / "job.json", [json.dumps(document)])
        self._done = Bitmap(self.total)

    def _load_parts(self) -> None:
        self._done = Bitmap(self.total)
        for leftover in self.folder.glob("*.tmp"):
            leftover.unlink()  # a part or list being written when the job died
        for number, path in self._parts():
            self._next_part = max(self._next_part, number + 1)
            self._mark(self.read_part(path))

    def _parts(self) -> list[tuple[int, Path]]:
        found = []
        for path in self.folder.iterdir():
            match = _PART.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
        return sorted(found)

    @staticmethod
    def read_part(path: Path) -> Iterator[Row]:
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                yield cast("Row", json.loads(line))

    # ------------------------------------------------------------------ running
    @property
    def inputs_file(self) -> Path:
        return self.folder / "inputs.txt"

    def pending(self) -> Iterator[tuple[int, str]]:
        """``(index, input)`` of every input no committed part holds, in order."""
        with self.inputs_file.open(encoding="utf-8") as lines:
            for index, line in enumerate(lines):
                if not self._done[index]:
                    yield index, line.rstrip("\n")

    def commit(self, rows: list[Row]) -> None:
        """Write ``rows`` as the next part, atomically; then they count as done."""
        if not rows:
            return
        rows = sorted(rows, key=lambda r: r["index"])
        path = self.folder / f"part-{self._next_part:06d}.jsonl"
        _write_atomically(path, (json.dumps(r) for r in rows))
        self._next_part += 1
        self._mark(rows)

    def _mark(self, rows: Iterable[Row]) -> None:
        for row in rows:
            if self._done.add(row["index"]):
                self.done_count += 1
                self.failed_count += row["error"] is not None

    # ---------------------------------------------------------------- finishing
    def rows(self) -> Iterator[Row]:
        """Every committed row, part by part (each part sorted by index)."""
        for _, path in self._parts():
            yield from self.read_part(path)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
