#!/usr/bin/env bash
# The Lambda function as a .zip package for the managed python3.12 runtime (Amazon Linux
# 2023, glibc 2.34; it brings boto3 and its own runtime client): tensorgate and its pinned
# dependencies as CPython 3.12 manylinux x86_64 wheels (glibc ≤ 2.34), byte-compiled for 3.12, and a
# model repository under models/. Not python3.11: that runtime is Amazon Linux 2 (glibc
# 2.26), and the pinned numpy (2.4) ships wheels for glibc 2.27 and newer only.
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
  --platform manylinux_2_34_x86_64 --platform manylinux_2_28_x86_64 \
  --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --python-version 3.12 --implementation cp \
  --only-binary=:all: -c constraints.txt "$(ls "$STATE"/dist/tensorgate-*.whl)" \
  2> >(grep -v "^WARNING: Location" >&2)
# What the function never runs: pip's metadata caches, tests shipped inside packages.
find "$build" -depth -type d \( -name "__pycache__" -o -path "*/site-packages/*/tests" \) \
  -exec rm -rf {} +
rm -rf "$build"/bin
# Byte-compiled by a CPython 3.12 (the code directory is read-only on Lambda, so what is
# not compiled here is compiled again at every cold start).
python312=""
for candidate in "$HOME"/.pyenv/versions/3.12.*/bin/python3.12 "$(command -v python3.12 || true)"; do
  if [ -n "$candidate" ] && "$candidate" -c "" 2>/dev/null; then python312=$candidate; break; fi
done
if [ -n "$python312" ]; then
  "$python312" -m compileall -q -j 0 --invalidation-mode unchecked-hash "$build" >&2
else
  echo "lambda-zip.sh: no python3.12 here; the zip is not byte-compiled" >&2
fi
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
