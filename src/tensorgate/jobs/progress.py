"""The progress line (images/s, ETA, errors) and the end-of-job summary: pure counting
and formatting, with the clock injected."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

__all__ = ["Progress", "Summary", "format_duration"]


def format_duration(seconds: float) -> str:
    """``1:02:03`` / ``2:03``; ``--:--`` when unknown."""
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        return "--:--"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass(frozen=True, slots=True)
class Summary:
    """What a job did.

    Attributes:
        output: the output file.
        total: inputs in the job.
        scored: inputs scored by this run (successes and failures).
        resumed: inputs already committed by earlier runs, skipped by this one.
        failed: inputs whose row holds an error, over all runs.
        seconds: this run's wall time.
        engine: ``local``, ``ray`` or ``spark``.
        state: ``fresh``, ``resumed`` or ``complete`` (nothing was left to do).
    """

    output: str
    total: int
    scored: int
    resumed: int
    failed: int
    seconds: float
    engine: str
    state: str

    @property
    def rate(self) -> float:
        """Images per second of this run."""
        return self.scored / self.seconds if self.seconds > 0 else 0.0

    def render(self) -> str:
        if self.state == "complete" and self.scored == 0:
            return f"{self.output} is complete: nothing to do (pass --overwrite to score again)"
        parts = [
            f"{self.total:,} input{'' if self.total == 1 else 's'}",
            f"{self.scored:,} scored this run in {format_duration(self.seconds)} "
            f"({self.rate:.1f} img/s, engine {self.engine})",
        ]
        if self.resumed:
            parts.append(f"{self.resumed:,} done by an earlier run")
        parts.append(f"{self.failed:,} failed (see the error column)")
        return f"wrote {self.output}: " + "; ".join(parts)


class Progress:
    """Counts rows as they commit and redraws one status line at most every ``interval``
    seconds (in place on a terminal, a new line otherwise)."""

    def __init__(
        self,
        total: int,
        already: int,
        clock: Callable[[], float],
        stream: TextIO | None,
        interval: float = 0.5,
    ) -> None:
        self.total = total
        self.already = already
        self.scored = 0
        self.errors = 0
        self._clock = clock
        self._stream = stream
        self._interval = interval
        self.started = clock()
        self._drawn = float("-inf")
        self._drawn_at_count = -1
        self._tty = bool(stream is not None and stream.isatty())

    def line(self) -> str:
        elapsed = self._clock() - self.started
        rate = self.scored / elapsed if elapsed > 0 else 0.0
        left = self.total - self.already - self.scored
        eta = left / rate if rate > 0 else float("nan")
        done = self.already + self.scored
        percent = 100.0 * done / self.total if self.total else 100.0
        return (
            f"{done:,}/{self.total:,} ({percent:.1f}%) | {rate:.1f} img/s | "
            f"ETA {format_duration(eta)} | {self.errors:,} errors"
        )

    def advance(self, scored: int, errors: int) -> None:
        self.scored += scored
        self.errors += errors
        now = self._clock()
        if self._stream is not None and now - self._drawn >= self._interval:
            self._drawn = now
            self._draw()

    def _draw(self) -> None:
        assert self._stream is not None
        self._drawn_at_count = self.scored
        if self._tty:
            self._stream.write("\r\x1b[2K" + self.line())
        else:
            self._stream.write(self.line() + "\n")
        self._stream.flush()

    def close(self) -> None:
        if self._stream is not None:
            if self._drawn_at_count != self.scored:
                self._draw()
            if self._tty:
                self._stream.write("\n")
            self._stream.flush()
