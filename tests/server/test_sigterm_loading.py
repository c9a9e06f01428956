"""SIGTERM while models load: the instance loading finishes (a load cannot be
interrupted), nothing after it loads, and the server exits 0 without serving — in about
one instance's load time, not the whole repository's."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import write_model

LOAD_S = 2.0  # each instance of each model takes this long to load


def test_sigterm_while_loading_stops_the_loading_and_exits_cleanly(tmp_path: Path) -> None:
    spec = {
        "backend": "fake",
        "max_batch_size": 4,
        "instance_group": {"count": 2},
        "inputs": [{"name": "x", "datatype": "FP32", "dims": [3]}],
        "outputs": [{"name": "y", "datatype": "FP32", "dims": [2]}],
    }
    for name in ("first", "second", "third"):
        write_model(tmp_path, name, None, spec)
        (tmp_path / name / "1" / "model.fake").write_text(f'{{"load_delay_s": {LOAD_S}}}\n')
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tensorgate",
            "serve",
            str(tmp_path),
            "--port",
            "0",
            "--grpc-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "Waiting for application startup" in line:  # the models are loading now
            break
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=60)
    took = time.monotonic() - signalled
    output = "".join(lines) + rest
    assert process.returncode == 0, output
    assert took < 3 * LOAD_S, f"{took:.1f} s; a full load is {6 * LOAD_S:.0f} s\n{output}"
    assert "load was aborted" in output
    assert "listening" not in output.lower() or "Application startup complete" in output
