#!/usr/bin/env python3
"""The image's HEALTHCHECK: exit 0 when the server in this container says it is ready.

Standard library only and no tensorgate import, so a probe every few seconds costs a
few milliseconds of CPU, not the server's import time. It asks
``http://127.0.0.1:$TENSORGATE_PORT/v2/health/ready`` (a public route: no token); a
server bound to one address other than 0.0.0.0 / :: is asked there instead.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_S = 2.0


def ready_url(environ: dict[str, str]) -> str:
    """Where the server in this container answers its readiness probe."""
    host = environ.get("TENSORGATE_HOST", "127.0.0.1")
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    port = environ.get("TENSORGATE_PORT", "8000")
    return f"http://{shown}:{port}/v2/health/ready"


def main() -> int:
    url = ready_url(dict(os.environ))
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as answer:
            status = int(answer.status)
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError as error:
        print(f"healthcheck: {url} unreachable: {error}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"healthcheck: {url} answered {status} (not ready)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
