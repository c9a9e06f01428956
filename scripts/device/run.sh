#!/usr/bin/env bash
# On a lent GPU machine (see docs/benchmarks.md, "GPU"): install what stage.sh carried,
# run the gpu-marked tests, make the models, run bench/gpu.py. Results go to $OUT.
# Usage (device tool, after a call that carried .device/cuda):
#   [STEPS='tests models bench probe server python gil'] [MODELS=a,b] [TAG=-x]
#   [SERVER_MODEL=m] [SERVER_ARGS='--workers 1,2,4 --images 1,8'] bash scripts/device/run.sh [bench.gpu options]
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
site=/tmp/site
mkdir -p "$site"
[ -f $site/onnxruntime/capi/libonnxruntime_providers_cuda.so ] || python3 - <<'PY' || exit 1
import lzma, pathlib, shutil, tarfile
site = pathlib.Path("/tmp/site")
cuda = next(p for p in (pathlib.Path(".device/cuda"), pathlib.Path("/tmp/stage/cuda")) if p.exists())
with tarfile.open(".device/rest/onnxruntime-gpu.tar.xz") as tar:
    tar.extractall(site, filter="fully_trusted")
with lzma.open(cuda / "libonnxruntime_providers_cuda.so.xz") as src, open(
    site / "onnxruntime/capi/libonnxruntime_providers_cuda.so", "wb"
) as dst:
    shutil.copyfileobj(src, dst)
print("onnxruntime-gpu unpacked")
PY
[ -d $site/starlette ] || python3 -m pip install -q --no-index --no-deps --no-compile --target "$site" .device/rest/wheels/*.whl || exit 1
packages=$(python3 -c 'import site; print(site.getsitepackages()[0])')
LD_LIBRARY_PATH=$(find "$packages/nvidia" -name 'lib*.so*' -printf '%h\n' 2>/dev/null | sort -u | paste -sd:)
export LD_LIBRARY_PATH PYTHONPATH=$site:$PWD/src:$PWD PYTHONUNBUFFERED=1
export TENSORGATE_HOME=/tmp/tghome
mkdir -p $TENSORGATE_HOME/repository
cp -rn .device/rest/models/* $TENSORGATE_HOME/repository/
repo=$TENSORGATE_HOME/repository
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
python3 -c "import onnxruntime as o, torch, torchvision; print('onnxruntime', o.__version__, o.get_available_providers(), 'torch', torch.__version__, 'torchvision', torchvision.__version__, 'cudnn (torch)', torch.backends.cudnn.version())" | tee -a "$OUT/gpu.txt"
python3 -m pip list 2>/dev/null | grep -i -E "^nvidia-(cudnn|cublas|cuda-runtime)" | tee -a "$OUT/gpu.txt"
for step in ${STEPS:-tests models bench}; do
  case $step in
    tests)
      timeout 240 python3 -m pytest -m gpu -q -p no:cacheprovider -p no:logging -o addopts="" \
        --tb=short tests/imaging/test_gpu.py tests/runtimes/test_pytorch.py tests/test_engine_gpu.py \
        2>&1 | grep -v DEBUG | tail -40 | tee "$OUT/tests.log" ;;
    models)
      timeout 120 python3 -m bench.gpu_models --repository "$repo" ${RESNET:---resnet50} 2>&1 | tail -5 ;;
    probe)
      python3 -m bench.gpu_probe "$repo"/efficientnet-lite0-uint8-nchw{,-fp16}/1/model.onnx \
        2>&1 | grep -v "No registered plugin" | tee "$OUT/probe.log" ;;
    server)
      python3 -m bench.gpu_server --repository "$repo" \
        --model "${SERVER_MODEL:-efficientnet-lite0-uint8-nchw-fp16}" --out "$OUT/server${TAG:-}.json" \
        ${SERVER_ARGS:---images 1,8} \
        2>&1 | grep -v "No registered plugin" | tee "$OUT/server${TAG:-}.log" ;;
    python)  # the engine's Python per image on this host's cores (no GPU involved)
      python3 -m bench.engine_python --out "$OUT/python${TAG:-}.json" \
        2>&1 | tee "$OUT/python${TAG:-}.log" ;;
    gil)  # what holds the GIL on the device path: py-spy (carried) over bench.gpu's engine rows
      .device/rest/bin/py-spy record --gil --rate 200 --format raw --nonblocking \
        --output "$OUT/gil${TAG:-}.txt" -- python3 -m bench.gpu --repository "$repo" \
        --models "${MODELS:-efficientnet-lite0-uint8-nchw}" --paths device --engine-only \
        --seconds 8 "$@" 2>&1 | grep -v "No registered plugin" | tail -12 | tee "$OUT/gil${TAG:-}.log" ;;
    bench)
      python3 -m bench.gpu --repository "$repo" \
        --models "${MODELS:-efficientnet-lite0-uint8-nchw,efficientnet-lite0-uint8-nchw-fp16,resnet50-uint8-nchw-fp16}" \
        --out "$OUT/gpu${TAG:-}.json" "$@" 2>&1 | grep -v "No registered plugin" | tee "$OUT/bench${TAG:-}.log" ;;
  esac
done
