#!/usr/bin/env bash
# Install the `nudenet` wheel (its YOLOv8n detector is AGPL-3.0: a test fixture only,
# never copied into the zoo, the repository or an image) with OpenCV into a folder of
# its own, once, and print that folder. Tests put it on PYTHONPATH in a subprocess.
#   scripts/fixture-nudenet.sh   # → $TENSORGATE_HOME/fixtures/nudenet-3.4.2
set -euo pipefail
cd "$(dirname "$0")/.."
home="${TENSORGATE_HOME:-$HOME/.cache/tensorgate}"
target="$home/fixtures/nudenet-3.4.2"
if [ ! -f "$target/.complete" ]; then
  rm -rf "$target"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
    --target "$target" nudenet==3.4.2 opencv-python-headless==4.12.0.88 \
    2> >(grep -v "^WARNING: Location" >&2)
  touch "$target/.complete"
fi
echo "$target"
