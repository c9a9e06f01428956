#!/usr/bin/env bash
# A headless browser for the console's tests: Debian's chromium, driven by playwright
# (pip) through its executable_path (playwright cannot download browsers here).
#
#   bash scripts/browser.sh      # installs what is missing; prints chromium's path
set -euo pipefail
cd "$(dirname "$0")/.."
PLAYWRIGHT=1.65.2
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing chromium" >&2
  if [ "$(id -u)" = 0 ]; then apt_get=(apt-get); else apt_get=(sudo apt-get); fi
  DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y --no-install-recommends \
    chromium fonts-dejavu-core >&2
fi
if ! .venv/bin/python -c "import playwright" 2>/dev/null; then
  .venv/bin/pip install --quiet "playwright==$PLAYWRIGHT" >&2
fi
command -v chromium
