#!/usr/bin/env bash
# Build (once) the environment `tensorgate convert --python` uses for Keras or MXNet,
# and print its interpreter. Cached under $TENSORGATE_HOME (default ~/.cache/tensorgate).
#   scripts/framework-env.sh keras   # tensorflow-cpu 2.21, tf2onnx 1.17
#   scripts/framework-env.sh mxnet   # mxnet 1.9.1 with numpy<1.24 and onnx 1.15
set -euo pipefail
framework="${1:?usage: framework-env.sh keras|mxnet}"
home="${TENSORGATE_HOME:-$HOME/.cache/tensorgate}"
case "$framework" in
  keras) packages=(tensorflow-cpu==2.21.0 tf2onnx==1.17.0 protobuf==6.33.6 numpy==2.4.6) ;;
  mxnet) packages=(mxnet==1.9.1 numpy==1.23.5 onnx==1.15.0 "protobuf<5") ;;
  *) echo "unknown framework: $framework (keras or mxnet)" >&2; exit 2 ;;
esac
venv="$home/venvs/$framework"
stamp="$venv/.tensorgate-$(echo "${packages[*]}" | sha256sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  rm -rf "$venv"
  python3.11 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${packages[@]}" >&2
  touch "$stamp"
fi
echo "$venv/bin/python"
