"""docs/reliability.md names a test for every scenario: each one exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_test_the_reliability_table_names_exists() -> None:
    text = (ROOT / "docs" / "reliability.md").read_text()
    named = re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?", text)
    assert len(named) > 20
    sources = {
        p.relative_to(ROOT).as_posix(): p.read_text() for p in (ROOT / "tests").rglob("*.py")
    }
    missing = [
        f"{path}::{name}"
        for path, name in named
        if path not in sources or (name and f"def {name}(" not in sources[path])
    ]
    bare = re.findall(r"`(test_\w+)`", text)
    missing += [n for n in bare if not any(f"def {n}(" in s for s in sources.values())]
    assert missing == []
