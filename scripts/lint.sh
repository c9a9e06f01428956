#!/usr/bin/env bash
# ruff (lint + format check) and mypy --strict on the package.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ruff check src tests bench deploy
.venv/bin/ruff format --check src tests bench deploy
.venv/bin/mypy
