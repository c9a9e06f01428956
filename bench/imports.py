"""What the light entry points cost: a fresh interpreter per run, median of N.

    .venv/bin/python -m bench.imports [--runs 7] [--src PATH]

``--src`` points at another checkout's ``src`` (for a before/after table in one run).
Each line: the entry point, the median and min wall time of the whole process, and which
heavy modules it imported (the engine, httpx, Pillow, onnxruntime, numpy).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("tensorgate.engine", "httpx", "PIL", "onnxruntime", "numpy")

ENTRY_POINTS = {
    "python: import tensorgate.errors": "import tensorgate.errors",
    "python: import tensorgate": "import tensorgate",
    "cli: tensorgate plan --help": (
        "import sys; sys.argv = ['tensorgate', 'plan', '--help']\n"
        "from tensorgate.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    ),
    "cli: tensorgate --help": (
        "import sys; sys.argv = ['tensorgate', '--help']\n"
        "from tensorgate.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    ),
}

_REPORT = (
    "\nimport json, sys\n"
    "sys.stderr.write('@@' + json.dumps([m for m in {heavy!r} if m in sys.modules]))\n"
)


def measure(src: Path, code: str, runs: int) -> tuple[float, float, list[str]]:
    """Median and min seconds of ``python -c code`` with ``src`` first on the path."""
    program = f"import sys; sys.path.insert(0, {str(src)!r})\n{code}" + _REPORT.format(heavy=HEAVY)
    times = []
    heavy: list[str] = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, check=True
        )
        times.append(time.perf_counter() - started)
        heavy = json.loads(done.stderr.rpartition("@@")[2])
    return statistics.median(times), min(times), heavy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--src",
        type=Path,
        action="append",
        help="a checkout's src folder (repeatable; default: this one)",
    )
    args = parser.parse_args()
    sources = args.src or [Path(__file__).resolve().parent.parent / "src"]
    bare = measure(sources[0], "pass", args.runs)[0]
    print(f"bare interpreter: {bare * 1000:.0f} ms (median of {args.runs})")
    print("| entry point | src | median ms | min ms | heavy modules imported |")
    print("| --- | --- | --- | --- | --- |")
    for name, code in ENTRY_POINTS.items():
        for src in sources:
            median, low, heavy = measure(src, code, args.runs)
            shown = ", ".join(heavy) or "none"
            print(f"| {name} | {src} | {median * 1000:.0f} | {low * 1000:.0f} | {shown} |")


if __name__ == "__main__":
    main()
