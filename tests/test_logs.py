"""Structured logs: JSON lines, and one per batch with its device time."""

from __future__ import annotations

import json
import logging

from tensorgate.batching.batcher import BatchRecord
from tensorgate.config import EngineSettings
from tensorgate.engine import Engine
from tensorgate.logs import JsonFormatter, Throttle
from tensorgate.metrics.stats import ModelStatistics
from tensorgate.types import ModelKey


def test_batch_is_logged_as_json_with_device_time(caplog: object) -> None:
    engine = Engine(EngineSettings())
    records: list[logging.LogRecord] = []

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Recorder()
    logger = logging.getLogger("tensorgate.engine")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        engine._record_batch(
            BatchRecord(ModelKey("m", 1), 0, "cpu", 3, 2, (0.001, 0.002), 0.0125, None),
            ModelStatistics("m", "1"),
            lambda: 0,
        )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    (record,) = records
    doc = json.loads(JsonFormatter().format(record))
    assert doc["msg"] == "batch"
    assert doc["level"] == "debug"
    assert doc["model"] == "m/1"
    assert doc["device_ms"] == 12.5
    assert doc["max_queue_ms"] == 2.0
    assert (doc["rows"], doc["requests"], doc["device"]) == (3, 2, "cpu")


def test_a_flood_is_logged_once_per_period_with_the_count_held_back() -> None:
    now = [100.0]
    throttle = Throttle(every=10.0, clock=lambda: now[0])
    records: list[logging.LogRecord] = []

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("tensorgate.test.throttle")
    logger.addHandler(Recorder())
    logger.setLevel(logging.INFO)
    for _ in range(500):  # a flood within one period: the first line only
        throttle(logger, logging.WARNING, "refusing", error="full")
    assert len(records) == 1
    assert not hasattr(records[0], "suppressed_since_last")
    now[0] += 10.0
    throttle(logger, logging.WARNING, "refusing", error="full")
    assert len(records) == 2
    assert records[1].suppressed_since_last == 499  # type: ignore[attr-defined]
    now[0] += 10.0
    throttle(logger, logging.WARNING, "refusing", error="full")
    assert not hasattr(records[2], "suppressed_since_last")
