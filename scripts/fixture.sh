#!/usr/bin/env bash
# Install a package that tests and benchmarks compare against into a folder of its own,
# once, and print that folder; they put it on PYTHONPATH in a subprocess.
#   scripts/fixture.sh nudenet    # nudenet 3.4.2: its YOLOv8n is AGPL-3.0, a fixture
#                                 # only, never copied into the zoo, the repository or
#                                 # an image (with OpenCV, no other dependency)
#   scripts/fixture.sh rapidocr   # rapidocr 3.10.0 (Apache-2.0), the OCR reference, with
#                                 # its dependencies pinned by constraints.txt
#   scripts/fixture.sh kserve     # KServe's SDK 0.21.0 and the kubernetes client 33.1.0,
#                                 # without their dependencies: the deploy tests check the
#                                 # KServe manifests against their generated model classes
# The folder: $TENSORGATE_HOME/fixtures/NAME-VERSION (default ~/.cache/tensorgate).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  nudenet) name=nudenet-3.4.2; args=(--no-deps nudenet==3.4.2 opencv-python-headless==4.12.0.88) ;;
  rapidocr) name=rapidocr-3.10.0; args=(-c constraints.txt rapidocr==3.10.0) ;;
  kserve) name=kserve-0.21.0-k8s-33.1.0; args=(--no-deps kserve==0.21.0 kubernetes==33.1.0) ;;
  *) echo "usage: scripts/fixture.sh nudenet|rapidocr|kserve" >&2; exit 2 ;;
esac
target="${TENSORGATE_HOME:-$HOME/.cache/tensorgate}/fixtures/$name"
if [ ! -f "$target/.complete" ]; then
  rm -rf "$target"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --target "$target" \
    "${args[@]}" 2> >(grep -v "^WARNING: Location" >&2)
  touch "$target/.complete"
fi
echo "$target"
