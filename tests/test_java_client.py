"""The Java client (clients/java): built offline with Maven from Debian's packages, its
JUnit tests run against a real server — the cat comes back as a cat, a corrupt image
raises the exception with the server's message, a deadline is enforced, tensors go
through infer, UNAVAILABLE is retried with backoff, health and metadata answer."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tensorgate.server.process import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "clients" / "java" / "target" / "surefire-reports"


@pytest.mark.slow
def test_the_java_client_passes_its_tests_against_a_real_server(
    server: ServerProcess, cat_jpeg: bytes, coffee_png: bytes, tmp_path: Path
) -> None:
    assert server.grpc is not None
    (tmp_path / "cat.jpg").write_bytes(cat_jpeg)
    (tmp_path / "coffee.png").write_bytes(coffee_png)
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "java.sh"), "test", server.grpc, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    (report,) = REPORTS.glob("*TensorgateClientTest.txt")
    summary = re.search(
        r"Tests run: (\d+), Failures: (\d+), Errors: (\d+), Skipped: (\d+)", report.read_text()
    )
    assert summary is not None
    assert summary.groups() == ("6", "0", "0", "0")
