"""The Lambda entry point: ``python -m awslambdaric tensorgate.serverless.handler.handler``.

Importing this module is the function's init phase: it loads and warms the models the
environment names (docs/serverless.md). An error here is reported to Lambda's Runtime
API as an init error by the runtime interface client, and the environment is not used.
"""

from __future__ import annotations

from typing import Any

from tensorgate.serverless.function import from_environment

__all__ = ["handler"]

_FUNCTION = from_environment()


def handler(event: Any, context: Any) -> Any:
    """Answer one Lambda event (HTTP, S3 notification or direct invocation)."""
    return _FUNCTION(event, context)
