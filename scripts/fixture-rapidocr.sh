#!/usr/bin/env bash
# Install the `rapidocr` reference package (Apache-2.0) with its dependencies, pinned by
# constraints.txt, into a folder of its own, once, and print that folder. Tests and
# benchmarks put it on PYTHONPATH in a subprocess to compare tensorgate's OCR with it.
#   scripts/fixture-rapidocr.sh   # → $TENSORGATE_HOME/fixtures/rapidocr-3.10.0
set -euo pipefail
cd "$(dirname "$0")/.."
home="${TENSORGATE_HOME:-$HOME/.cache/tensorgate}"
target="$home/fixtures/rapidocr-3.10.0"
if [ ! -f "$target/.complete" ]; then
  rm -rf "$target"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt \
    --target "$target" rapidocr==3.10.0 \
    2> >(grep -v "^WARNING: Location" >&2)
  touch "$target/.complete"
fi
echo "$target"
