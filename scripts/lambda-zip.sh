#!/usr/bin/env bash
# The Lambda function as a .zip package for the managed python3.11 runtime (which brings
# boto3 and its own runtime client): tensorgate and its pinned dependencies for
# manylinux x86_64, byte-compiled, and a model repository under models/.
#
#   bash scripts/lambda-zip.sh [--repository DIR] [--out FILE]
#
# Handler: tensorgate.serverless.handler.handler (the repository is found at
# $LAMBDA_TASK_ROOT/models). Prints the zip's path and its sizes against Lambda's limits.
set -euo pipefail
cd "$(dirname "$0")/.."
STATE="${TENSORGATE_HOME:-$HOME/.cache/tensorgate}/lambda-zip"
repository="" out="$STATE/tensorgate-lambda.zip"
while [ $# -gt 0 ]; do
  case "$1" in
    --repository) repository=$(cd "$2" && pwd); shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "lambda-zip.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
if [ -z "$repository" ]; then
  bash scripts/bootstrap.sh serve
  .venv/bin/tensorgate zoo pull efficientnet-lite0 >&2
  home="${TENSORGATE_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/tensorgate}"
  repository="$STATE/default-repository"
  rm -rf "$repository" && mkdir -p "$repository"
  cp -rL "$home/repository/efficientnet-lite0" "$repository/"
fi
build="$STATE/build"
rm -rf "$build" "$STATE/dist" && mkdir -p "$build" "$STATE/dist"
.venv/bin/python -m pip wheel --quiet --no-deps -w "$STATE/dist" . >&2
.venv/bin/python -m pip install --quiet --disable-pip-version-check --target "$build" \
  --platform manylinux2014_x86_64 --python-version 3.11 --implementation cp \
  --only-binary=:all: -c constraints.txt "$(ls "$STATE"/dist/tensorgate-*.whl)" \
  2> >(grep -v "^WARNING: Location" >&2)
# What the function never runs: pip's metadata caches, tests shipped inside packages.
find "$build" -depth -type d \( -name "__pycache__" -o -path "*/site-packages/*/tests" \) \
  -exec rm -rf {} +
rm -rf "$build"/bin
.venv/bin/python -m compileall -q -j 0 "$build" >&2
cp -rL "$repository" "$build/models"
out=$(realpath -m "$out")
rm -f "$out" && mkdir -p "$(dirname "$out")"
if command -v zip >/dev/null 2>&1; then
  (cd "$build" && zip -q -r -9 -X "$out" .)
else
  python=$(pwd)/.venv/bin/python
  (cd "$build" && "$python" -m zipfile -c "$out" ./*)
fi
unzipped=$(du -sb "$build" | cut -f1)
zipped=$(stat -c %s "$out")
echo "lambda-zip.sh: $out: $((zipped / 1048576)) MiB zipped (direct upload limit 50 MiB;" \
  "larger goes through S3), $((unzipped / 1048576)) MiB unzipped (limit 250 MiB," \
  "layers included)" >&2
echo "$out"
