"""The progress line and the summary, on an injected clock."""

from __future__ import annotations

import io

import pytest

from tensorgate.jobs.progress import Progress, Summary, format_duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0:00"), (59.6, "1:00"), (3725, "1:02:05"), (float("nan"), "--:--"), (-1, "--:--")],
)
def test_durations(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_the_line_shows_rate_eta_and_errors() -> None:
    now = [100.0]
    stream = io.StringIO()
    progress = Progress(total=1000, already=200, clock=lambda: now[0], stream=stream, interval=1)
    now[0] = 110.0
    progress.advance(400, 3)  # 40 img/s; 400 left → 10 s
    assert progress.line() == "600/1,000 (60.0%) | 40.0 img/s | ETA 0:10 | 3 errors"
    now[0] = 110.5
    progress.advance(10, 0)  # within the interval: not drawn
    progress.close()
    assert stream.getvalue().splitlines() == [
        "600/1,000 (60.0%) | 40.0 img/s | ETA 0:10 | 3 errors",
        "610/1,000 (61.0%) | 39.0 img/s | ETA 0:10 | 3 errors",
    ]


def test_the_summary_says_what_happened() -> None:
    summary = Summary("out.parquet", 1000, 600, 400, 7, 12.0, "local", "resumed")
    assert summary.rate == 50.0
    assert summary.render() == (
        "wrote out.parquet: 1,000 inputs; 600 scored this run in 0:12 (50.0 img/s, engine "
        "local); 400 done by an earlier run; 7 failed (see the error column)"
    )
    done = Summary("out.parquet", 10, 0, 10, 0, 0.0, "local", "complete")
    assert "nothing to do" in done.render()
