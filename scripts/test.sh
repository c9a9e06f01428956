#!/usr/bin/env bash
# Set up .venv if needed and run the test suite (slow tests excluded unless asked:
# scripts/test.sh -m slow, or scripts/test.sh -m "" for everything).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
if [ "$#" -eq 0 ]; then
  set -- -m "not slow and not gpu"
fi
exec .venv/bin/python -m pytest "$@"
