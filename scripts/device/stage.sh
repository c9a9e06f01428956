#!/usr/bin/env bash
# Stage what a lent GPU machine needs for scripts/device/run.sh into .device/ (ignored
# by git): it reaches no package index, and each call carries at most 64 MiB.
#   .device/cuda/    onnxruntime-gpu's CUDA provider, cut to one architecture (ARCH), xz
#                    (the first call carries it alone: ~50 MiB)
#   .device/rest/    the rest of onnxruntime-gpu (tar.xz), wheels of tensorgate's
#                    dependencies that the machine's image lacks, the zoo's FP32
#                    efficientnet-lite0 export, py-spy
# Usage: bash scripts/device/stage.sh   (ARCH=90 ORT=1.31.1 by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
ARCH=${ARCH:-90}
ORT=${ORT:-1.31.1}
cache=${TENSORGATE_HOME:-$HOME/.cache/tensorgate}/device
mkdir -p "$cache"
download() {
  .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$1" "${@:2}"
}
[ -n "$(ls "$cache"/onnxruntime_gpu-"$ORT"-*.whl 2>/dev/null)" ] || download "$cache" "onnxruntime-gpu==$ORT"
rm -rf .device && mkdir -p .device/cuda .device/rest/wheels .device/rest/models
pin() { .venv/bin/python -c "import importlib.metadata as m; print(m.version('$1'))"; }
download .device/rest/wheels "starlette==$(pin starlette)" "uvicorn==$(pin uvicorn)" \
  "httptools==$(pin httptools)" "python-multipart==$(pin python-multipart)" \
  "simplejpeg==$(pin simplejpeg)" "pytest-asyncio==$(pin pytest-asyncio)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && unzip -q "$cache"/onnxruntime_gpu-"$ORT"-cp312-*.whl)
provider=$work/onnxruntime/capi/libonnxruntime_providers_cuda.so
.venv/bin/python scripts/device/prune_fatbin.py "$provider" "$work/cuda.so" "$ARCH"
xz -T0 -6 -c "$work/cuda.so" > .device/cuda/libonnxruntime_providers_cuda.so.xz
rm "$provider" "$work/cuda.so"
tar -C "$work" -cJf .device/rest/onnxruntime-gpu.tar.xz .
.venv/bin/python -c "from tensorgate.config import default_repository as d; from tensorgate.zoo import pull; pull('efficientnet-lite0', d())"
mkdir -p .device/rest/bin  # py-spy for run.sh's step gil, from bench.gil's venv
.venv/bin/python -c "from bench.gil import py_spy; print(py_spy())" | xargs -I{} cp {} .device/rest/bin/
cp -r "$(.venv/bin/python -c 'from tensorgate.config import default_repository as d; print(d())')/efficientnet-lite0" .device/rest/models/
du -sh .device/cuda .device/rest
