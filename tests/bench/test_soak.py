"""The soak's 2-minute version (slow suite): mixed traffic at 70 % of capacity with a
reload every 30 s; RSS steady, the tail steady, no unexpected error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_minutes_of_mixed_traffic_and_reloads_pass_the_soak_verdict() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--minutes", "2", "--reload-every", "30"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "reload" in done.stdout, done.stdout + done.stderr[-2000:]
    assert done.returncode == 0, done.stdout
    assert "verdict: pass" in done.stdout
