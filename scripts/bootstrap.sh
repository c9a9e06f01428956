#!/usr/bin/env bash
# Create .venv (Python 3.11) and install tensorgate with pinned dependencies, once.
# Re-runs are instant until pyproject.toml or constraints.txt change.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
stamp_now=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
stamp_file=.venv/.tensorgate-stamp
if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp_now" ] && [ -x .venv/bin/tensorgate ]; then
  exit 0
fi
echo "bootstrap: installing tensorgate and its pinned dependencies into .venv" >&2
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
  -c constraints.txt -e ".[zoo,s3,grpc,batch,ray,spark,lab,dev]" 2> >(grep -v "^WARNING: Location" >&2)
echo "$stamp_now" > "$stamp_file"
