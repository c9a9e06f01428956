"""SIGTERM while models load: the instance loading finishes (a load cannot be
interrupted), nothing after it loads, and the server exits 0 without serving — in about
one instance's load time, not the whole repository's."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import sigterm_while_loading, slow_fake_model

LOAD_S = 2.0  # each instance of each model takes this long to load


def test_sigterm_while_loading_stops_the_loading_and_exits_cleanly(tmp_path: Path) -> None:
    for name in ("first", "second", "third"):
        slow_fake_model(tmp_path, name, LOAD_S, instances=2)
    code, output, took = sigterm_while_loading(tmp_path)
    assert code == 0, output
    assert took < 3 * LOAD_S, f"{took:.1f} s; a full load is {6 * LOAD_S:.0f} s\n{output}"
    assert "load was aborted" in output
    assert "listening" not in output.lower() or "Application startup complete" in output
