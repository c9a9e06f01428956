"""Structured logs: one JSON object per line on stderr."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["JsonFormatter", "Throttle", "configure_logging", "event"]

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """Formats a record as JSON: time, level, logger, message, the formatter's constant
    ``fields`` (a worker's index) and every ``extra`` field."""

    def __init__(self, fields: dict[str, Any] | None = None) -> None:
        super().__init__()
        self._fields = dict(fields or {})

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **self._fields,
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def configure_logging(level: str = "info", **fields: Any) -> None:
    """Send tensorgate's (and uvicorn's) logs to stderr as JSON lines, each with
    ``fields`` (``worker=1`` in a worker of ``serve --workers``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(fields))
    for name in ("tensorgate", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False
        logger.setLevel(level.upper())
    logging.getLogger("uvicorn.access").disabled = True


def event(logger: logging.Logger, level: int, msg: str, **fields: Any) -> None:
    """Log ``msg`` with structured fields, skipping the work when the level is off."""
    if logger.isEnabledFor(level):
        logger.log(level, msg, extra=fields)


class Throttle:
    """At most one log line per ``every`` seconds for an event that can come in floods
    (load shedding at hundreds per second would otherwise cost the event loop more than
    the refusals themselves): the first is logged at once, later ones are counted and the
    count rides on the next line logged."""

    def __init__(self, every: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self._clock = clock
        self._next = float("-inf")
        self._held = 0

    def __call__(self, logger: logging.Logger, level: int, msg: str, **fields: Any) -> None:
        now = self._clock()
        if now < self._next:
            self._held += 1
            return
        if self._held:
            fields["suppressed_since_last"] = self._held
        self._next, self._held = now + self.every, 0
        event(logger, level, msg, **fields)
