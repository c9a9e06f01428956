"""The soak's 2-minute version (slow suite): mixed traffic at 70 % of capacity with a
reload every 30 s; RSS steady, the tail steady, no unexpected error.

A tenth of two minutes is 12 s, ~840 answers: its p99 is the 8th slowest, which moves
between 12-s windows by up to 2x on a 2-vCPU VM with nothing wrong (77–157 ms in one
run), so this version allows the last tenth 2x the first's; the long runs keep 1.10x.
The defect the soak was built for took the tail 23.6x in 12 minutes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_minutes_of_mixed_traffic_and_reloads_pass_the_soak_verdict() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.soak",
            "--minutes",
            "2",
            "--reload-every",
            "30",
            "--tail-factor",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "reload" in done.stdout, done.stdout + done.stderr[-2000:]
    assert done.returncode == 0, done.stdout
    assert "verdict: pass" in done.stdout
