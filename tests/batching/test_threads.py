"""The instances' own threads: calls run in order on one thread, results and errors come
back to the awaiting task, and a shutdown runs nothing more."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tensorgate.batching.threads import InstanceThread


async def test_calls_run_in_order_on_the_instance_thread() -> None:
    worker = InstanceThread("test-instance")
    try:
        names = await asyncio.gather(
            *(worker.submit(lambda i: (i, threading.current_thread().name), i) for i in range(5))
        )
        assert names == [(i, "test-instance") for i in range(5)]
    finally:
        worker.shutdown()


async def test_an_error_reaches_the_awaiting_task() -> None:
    worker = InstanceThread("test-instance")

    def fail(_: None) -> None:
        raise ValueError("bad batch")

    try:
        with pytest.raises(ValueError, match="bad batch"):
            await worker.submit(fail, None)
        assert await worker.submit(lambda x: x + 1, 1) == 2  # the thread lives on
    finally:
        worker.shutdown()


async def test_after_shutdown_queued_and_new_calls_are_cancelled() -> None:
    worker = InstanceThread("test-instance")
    started, release = threading.Event(), threading.Event()

    def hold(_: None) -> bool:
        started.set()
        return release.wait(10)

    running = worker.submit(hold, None)  # holds the thread
    queued = worker.submit(lambda x: x, "never")
    assert await asyncio.to_thread(started.wait, 10)
    worker.shutdown()
    release.set()
    assert await running is True  # a running call finishes
    with pytest.raises(asyncio.CancelledError):
        await queued
    late = worker.submit(lambda x: x, "late")
    assert late.cancelled()
