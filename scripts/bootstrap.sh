#!/usr/bin/env bash
# Create .venv (Python 3.11) and install tensorgate with pinned dependencies, once.
#   scripts/bootstrap.sh serve   serving and the one-time zoo export (no Ray, Spark,
#                                pyarrow or dev tools)
#   scripts/bootstrap.sh [all]   everything: every extra and the dev tools (tests, lint)
# Re-runs are instant until pyproject.toml or constraints.txt change; an environment
# set up for `all` serves `serve` too.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-all}"
case "$profile" in
  serve) extras="zoo,grpc" ;;
  all) extras="zoo,s3,grpc,text,search,batch,ray,spark,lab,tracing,lambda,dev" ;;
  *) echo "bootstrap: unknown profile '$profile' (serve or all)" >&2; exit 2 ;;
esac
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
stamp_now=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
current() { [ -f ".venv/.tensorgate-stamp-$1" ] && [ "$(cat ".venv/.tensorgate-stamp-$1")" = "$stamp_now" ]; }
if [ -x .venv/bin/tensorgate ] && { current "$profile" || current all; }; then
  exit 0
fi
echo "bootstrap: installing tensorgate [$extras] with its pinned dependencies into .venv" >&2
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
  -c constraints.txt -e ".[$extras]" 2> >(grep -v "^WARNING: Location" >&2)
echo "$stamp_now" > ".venv/.tensorgate-stamp-$profile"
