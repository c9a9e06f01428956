"""The instances' own threads: one per instance, each running its calls in order.

An awaited call costs two hand-offs, loop → thread and back. ``run_in_executor`` makes
each a chain of futures (a ``concurrent.futures.Future``, its lock and condition, and a
callback that copies its state to an asyncio future from inside the loop); here the
call goes on a ``SimpleQueue`` and its result comes back with one
``call_soon_threadsafe`` that settles the asyncio future directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

__all__ = ["InstanceThread", "thread_runner"]

_A = TypeVar("_A")
_R = TypeVar("_R")

_Call = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[Any], Any], Any]


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # cancelled while the thread ran it
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


def _post(loop: asyncio.AbstractEventLoop, *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
        loop.call_soon_threadsafe(*args)


class InstanceThread:
    """One daemon thread (pinned to ``core`` when given) running submitted calls in
    order. A daemon, so a hung instance cannot keep the process from exiting."""

    def __init__(self, name: str, core: int | None = None) -> None:
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._core = core
        self._stopped = False
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[_A], _R], arg: _A) -> asyncio.Future[_R]:
        """Queue ``fn(arg)``; the returned future (of the running loop) gets its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_R] = loop.create_future()
        if self._stopped:
            future.cancel()
            return future
        self._calls.put((loop, future, fn, arg))
        return future

    def shutdown(self) -> None:
        """Run nothing more: calls still queued are cancelled; a running one finishes."""
        self._stopped = True
        self._calls.put(None)

    def _serve(self) -> None:
        if self._core is not None:
            os.sched_setaffinity(0, {self._core})  # 0: the calling thread, on Linux
        while (call := self._calls.get()) is not None:
            loop, future, fn, arg = call
            del call
            if self._stopped or future.done():
                _post(loop, future.cancel)
                continue
            try:
                result, error = fn(arg), None
            except BaseException as exc:
                result, error = None, exc
            _post(loop, _settle, future, result, error)
            del loop, future, fn, arg, result, error  # hold nothing while idle
        while True:  # after shutdown: cancel whatever was still queued
            try:
                late = self._calls.get_nowait()
            except queue.Empty:
                return
            if late is not None:
                _post(late[0], late[1].cancel)


def thread_runner(
    instances: int, cores: Sequence[int] = ()
) -> tuple[Callable[[int, Callable[[_A], _R], _A], Awaitable[_R]], Callable[[], None]]:
    """One :class:`InstanceThread` per instance, so each session keeps its own thread.

    With ``cores``, instance ``i``'s thread is pinned to ``cores[i % len(cores)]``: the
    event loop and decode threads then stop migrating inference threads between cores
    (measured +4 % throughput under HTTP load on 2 cores; docs/benchmarks.md).

    Returns the runner and a function that stops the threads without waiting (a hung
    instance's thread would block forever; an idle one exits at once, a busy one when
    its call returns).
    """
    threads = [
        InstanceThread(f"tensorgate-instance-{i}", cores[i % len(cores)] if cores else None)
        for i in range(instances)
    ]

    def run(index: int, fn: Callable[[_A], _R], arg: _A) -> Awaitable[_R]:
        return threads[index].submit(fn, arg)

    def shutdown() -> None:
        for thread in threads:
            thread.shutdown()

    return run, shutdown
