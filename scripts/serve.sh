#!/usr/bin/env bash
# Set up everything on a fresh machine and serve the built-in default model
# (EfficientNet-Lite0, ImageNet) on http://127.0.0.1:8000. Extra arguments go to
# `tensorgate serve` (e.g. --port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh serve
.venv/bin/tensorgate zoo pull efficientnet-lite0
exec .venv/bin/tensorgate serve "$@"
