"""The dynamic batcher of one model version: a bounded queue and one worker per instance.

Each instance's worker takes the next batch when it is free (so batches grow by
themselves under load), passes the device gate, runs the batch in the instance's own
thread and answers each request's future with its slice of the outputs.

Semantics (see shared/STYLE.md §6): the delay starts at the first arrival; one future
per request; requests cancelled by their client, or past their deadline, are dropped
before the batch runs; output rows are checked against input rows; when the runtime
fails on a batch of several requests, each is run again alone, once, so one poison
input fails only its own request (a failure of a lone request is set on its future);
the queue is bounded; nothing polls. A request queued as a ``Deferred`` (images to
decode, a row each) is made on the instance's thread just before its batch runs; if
making it fails, only that request fails (batching/deferred.py). "Request" here is a
queue entry: the engine queues a request of many images as a few (policy.entry_sizes).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol, TypeVar

from tensorgate.batching.buckets import padded_rows
from tensorgate.batching.clock import Clock, TimerHandle
from tensorgate.batching.deferred import Deferred, Part, detached
from tensorgate.batching.device import (
    DeviceBatch,
    device_inputs_of,
    infer_on_device,
    make_on_device,
)
from tensorgate.batching.gate import DeviceGate
from tensorgate.batching.phases import Ran
from tensorgate.batching.policy import BatchPolicy, Dispatch, plan_batch
from tensorgate.batching.tensors import ShapeKey, Stacked, shape_key, split, stack
from tensorgate.batching.threads import thread_runner
from tensorgate.errors import (
    DeadlineExceededError,
    InferenceError,
    InvalidInputError,
    QueueFullError,
    ShuttingDownError,
    TensorgateError,
)
from tensorgate.runtimes.base import Runtime
from tensorgate.timing import RequestTiming, current_timing
from tensorgate.types import Array, ModelKey, Tensors

__all__ = ["BatchRecord", "Batcher", "BatcherState", "Instance", "RunSync", "thread_runner"]

log = logging.getLogger("tensorgate.batching")

#: Runs ``fn(arg)`` for instance ``index`` somewhere and awaits the result.
_A = TypeVar("_A")
_R = TypeVar("_R")


class RunSync(Protocol):
    """Runs ``fn(arg)`` on instance ``index``'s own thread."""

    def __call__(self, index: int, fn: Callable[[_A], _R], arg: _A, /) -> Awaitable[_R]: ...


@dataclass(frozen=True, slots=True)
class Instance:
    """One runtime instance and the gate of the device it runs on."""

    runtime: Runtime
    gate: DeviceGate


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """What happened to one batch, for statistics, metrics and logs.

    Attributes:
        model: the model version the batch ran on.
        instance: index of the instance that ran it.
        device: the device slot.
        rows: rows in the batch.
        requests: requests in the batch.
        queue_s: per request, seconds from arrival to the start of compute.
        compute_s: seconds the batch's compute took (gate held): ``input_s``, the
            runtime's call, ``output_s``.
        error: the failure set on every request, or None.
        input_s: of ``compute_s``, seconds stacking the requests into the batch.
        output_s: of ``compute_s``, seconds cutting the outputs back per request.
    """

    model: ModelKey
    instance: int
    device: str
    rows: int
    requests: int
    queue_s: tuple[float, ...]
    compute_s: float
    error: str | None
    input_s: float = 0.0
    output_s: float = 0.0

    @property
    def infer_s(self) -> float:
        """Of ``compute_s``, the runtime's call (and the hand-offs around it)."""
        return max(0.0, self.compute_s - self.input_s - self.output_s)


class BatcherState(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    DRAINING = "draining"
    STOPPED = "stopped"


@dataclass(eq=False, slots=True)
class _Pending:
    inputs: Tensors | Deferred
    rows: int
    key: ShapeKey
    arrival: float
    future: asyncio.Future[dict[str, Array]]
    timer: TimerHandle | None = field(default=None)
    #: The request's breakdown, when its door asked for one (tensorgate.timing).
    timing: RequestTiming | None = field(default=None)
    #: ``time.monotonic`` when it was queued (for a traced request's queue span).
    entered: float = 0.0


#: What was made of a batch before its run: on the device, or stacked on the host.
Made = DeviceBatch | Stacked


def _gather(
    inputs: Sequence[Tensors | Deferred],
) -> tuple[list[Part | None], list[Tensors], list[int], float]:
    """Each request's tensors, made where deferred: the parts so far (a request whose
    input failed: its error), the ready tensors, their indices among ``inputs``, and
    the seconds spent making them here (none for inputs made before)."""
    parts: list[Part | None] = [None] * len(inputs)
    ready: list[Tensors] = []
    where: list[int] = []
    making = 0.0
    for index, item in enumerate(inputs):
        if isinstance(item, Deferred):
            fresh = item.ended == 0.0  # not made before (ahead of the gate, or a retry)
            try:
                tensors = item.materialize()
            except TensorgateError as exc:
                parts[index] = detached(exc)  # no cycle through this frame (deferred.py)
                continue
            finally:
                if fresh:
                    making += item.ended - item.started
        else:
            tensors = item
        ready.append(tensors)
        where.append(index)
    return parts, ready, where, making


def _make_inputs(
    runtime: Runtime, rows: Sequence[int], inputs: Sequence[Tensors | Deferred]
) -> Made | None:
    """Make a batch's inputs ahead of its run (instance thread, before a GPU's gate):
    on the device when the whole batch can be, else each request's on the host (kept
    in its ``Deferred``, a failure as its error) and the batch stacked there, padded to
    its bucket size (None: nothing to stack)."""
    device = device_inputs_of(runtime, inputs)
    if device is not None:
        return make_on_device(device, [i for i in inputs if isinstance(i, Deferred)])
    _, ready, where, _ = _gather(inputs)
    if not ready:
        return None
    total = sum(rows[i] for i in where)
    return Stacked(stack(ready, padded_rows(runtime, total)), total)


def _infer_batch(
    runtime: Runtime,
    rows: Sequence[int],
    inputs: Sequence[Tensors | Deferred],
    made: Made | None = None,
) -> Ran:
    """Make the deferred inputs (unless ``_make_inputs`` made them: ``made``), stack
    the requests (padded to the runtime's bucket size, in one copy), run the batch and
    cut the outputs back, all on the instance thread. Returns each request's part, the
    seconds this call spent making inputs (not compute; none for inputs made ahead),
    stacking and cutting back (batching/phases.py). A batch whose requests are all made
    on the device stays there from making to inference (batching/device.py)."""
    device = device_inputs_of(runtime, inputs)
    if device is not None:
        items = [i for i in inputs if isinstance(i, Deferred)]
        return infer_on_device(
            runtime, device, items, made if isinstance(made, DeviceBatch) else None
        )
    parts, ready, where, making = _gather(inputs)
    input_s = output_s = 0.0
    if ready:
        total = sum(rows[i] for i in where)
        stacking = time.perf_counter()
        if isinstance(made, Stacked) and made.total == total:
            batch = made.tensors  # stacked ahead of the gate
        else:
            batch = stack(ready, padded_rows(runtime, total))
        running = time.perf_counter()
        outputs = runtime.infer(batch)
        cutting = time.perf_counter()
        if next(iter(batch.values())).shape[0] != total:  # padded here: cut the padding
            outputs = {name: array[:total] for name, array in outputs.items()}
        for index, part in zip(where, split(outputs, [rows[i] for i in where]), strict=True):
            parts[index] = part
        input_s, output_s = running - stacking, time.perf_counter() - cutting
    return Ran([p for p in parts if p is not None], making, input_s, output_s)


def _infer_then(
    loop: asyncio.AbstractEventLoop,
    answer: Callable[[Ran, None], None],
    runtime: Runtime,
    rows: Sequence[int],
    made: Made | None,
    inputs: Sequence[Tensors | Deferred],
) -> Ran:
    """``_infer_batch`` on the instance thread, then its answer posted to the loop at
    once: the requests' handlers wake in the loop's next step, not after the worker's."""
    ran = _infer_batch(runtime, rows, inputs, made)
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
        loop.call_soon_threadsafe(answer, ran, None)
    return ran


class Batcher:
    """Queues requests for one model version and runs them in batches on its instances."""

    def __init__(
        self,
        key: ModelKey,
        policy: BatchPolicy,
        instances: Sequence[Instance],
        clock: Clock,
        run_sync: RunSync,
        on_batch: Callable[[BatchRecord], None] = lambda record: None,
    ) -> None:
        if not instances:
            raise ValueError(f"{key}: a batcher needs at least one instance")
        self.key = key
        self.policy = policy
        self._instances = tuple(instances)
        self._clock = clock
        self._run_sync = run_sync
        self._on_batch = on_batch
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self._waiters: set[asyncio.Future[None]] = set()
        self._workers: list[asyncio.Task[None]] = []
        self._idle = 0
        #: Batches running whose answers are not out yet (a batch is answered before
        #: its worker is done with it: a client may come back before then).
        self._unanswered: set[int] = set()
        self._running_since: dict[int, float] = {}
        self._state = BatcherState.NEW

    @property
    def state(self) -> BatcherState:
        return self._state

    @property
    def queued_rows(self) -> int:
        """Rows waiting in the queue (including requests dropped but not yet swept)."""
        return self._queued_rows

    @property
    def busy(self) -> bool:
        """Requests are queued or a batch is running."""
        return self._queued_rows > 0 or bool(self._unanswered)

    def start(self) -> None:
        """Start one worker task per instance on the running loop."""
        if self._state is not BatcherState.NEW:
            raise RuntimeError(f"{self.key}: batcher cannot start from state {self._state.value}")
        self._state = BatcherState.RUNNING
        self._workers = [
            asyncio.create_task(self._worker(i), name=f"batcher {self.key} #{i}")
            for i in range(len(self._instances))
        ]

    def running_for(self) -> dict[int, float]:
        """Seconds each busy instance has been running its current batch."""
        now = self._clock.now()
        return {index: now - since for index, since in self._running_since.items()}

    def submit(
        self, inputs: Tensors | Deferred, deadline: float
    ) -> asyncio.Future[dict[str, Array]]:
        """Queue one request (its tensors, or a ``Deferred`` that makes them on the
        instance thread); its future gets the outputs, or the error.

        Raises:
            ShuttingDownError: the batcher no longer takes requests.
            InvalidInputError: the request has more rows than max_batch_size.
            QueueFullError: the queue is at its bound.
        """
        if self._state is not BatcherState.RUNNING:
            raise ShuttingDownError(f"model {self.key} is shutting down and takes no new requests")
        if isinstance(inputs, Deferred):
            rows, key = inputs.rows, inputs.key
        else:
            rows, key = next(iter(inputs.values())).shape[0], shape_key(inputs)
        if rows > self.policy.max_batch_size:
            raise InvalidInputError(
                f"the request has {rows} rows but model {self.key.name!r} takes at most "
                f"{self.policy.max_batch_size} (max_batch_size); split it into smaller requests"
            )
        if self._queued_rows + rows > self.policy.max_queue_rows:
            self._sweep()
            if self._queued_rows + rows > self.policy.max_queue_rows:
                raise QueueFullError(
                    f"model {self.key.name!r} has {self._queued_rows} rows queued, its bound "
                    f"is {self.policy.max_queue_rows}; retry later or add instances",
                    retry_after=1.0,
                )
        future: asyncio.Future[dict[str, Array]] = asyncio.get_running_loop().create_future()
        timing = current_timing()
        pending = _Pending(inputs, rows, key, self._clock.now(), future, timing=timing)
        if timing is not None and timing.stages is not None:
            pending.entered = time.monotonic()
        pending.timer = self._clock.call_at(deadline, lambda: self._expire(pending, deadline))
        self._queue.append(pending)
        self._queued_rows += rows
        self._wake()
        return future

    def _expire(self, pending: _Pending, deadline: float) -> None:
        if not pending.future.done():
            waited = deadline - pending.arrival
            pending.future.set_exception(
                DeadlineExceededError(
                    f"model {self.key.name!r} did not answer within the request's deadline "
                    f"of {waited:.3f} s; the server is overloaded or the deadline too short"
                )
            )

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _sweep(self) -> None:
        """Drop requests whose future is already done (cancelled or expired)."""
        if any(p.future.done() for p in self._queue):
            kept = deque(p for p in self._queue if not p.future.done())
            self._queue = kept
            self._queued_rows = sum(p.rows for p in kept)

    async def _wait(self, until: float | None) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        timer = None
        if until is not None:
            timer = self._clock.call_at(
                until, lambda: None if waiter.done() else waiter.set_result(None)
            )
        try:
            await waiter
        finally:
            self._waiters.discard(waiter)
            if timer is not None:
                timer.cancel()

    async def _next_batch(self) -> list[_Pending] | None:
        self._idle += 1
        try:
            return await self._take()
        finally:
            self._idle -= 1

    async def _take(self) -> list[_Pending] | None:
        while True:
            self._sweep()
            if not self._queue:
                if self._state is not BatcherState.RUNNING:
                    return None
                await self._wait(None)
                continue
            head = self._queue[0]
            compatible = 0
            for pending in self._queue:
                if pending.key != head.key:
                    break
                compatible += 1
            decision = plan_batch(
                self.policy,
                [p.rows for p in self._queue],
                compatible,
                head.arrival,
                self._clock.now(),
                self._idle,
                spread=isinstance(head.inputs, Deferred),
            )
            if isinstance(decision, Dispatch) or self._state is not BatcherState.RUNNING:
                count = decision.count if isinstance(decision, Dispatch) else compatible
                batch = [self._queue.popleft() for _ in range(count)]
                self._queued_rows -= sum(p.rows for p in batch)
                return batch
            await self._wait(decision.until)

    async def _worker(self, index: int) -> None:
        instance = self._instances[index]
        while True:
            batch = await self._next_batch()
            if batch is None:
                return
            try:
                made = await self._make_first(index, instance, batch)
                async with instance.gate.slot():
                    live = [p for p in batch if not p.future.done()]
                    if live:  # made for all of them, or made again for the live ones
                        await self._run(index, instance, live, made if live == batch else None)
            except asyncio.CancelledError:
                # Stopped past the drain timeout: no request of this batch may hang.
                self._fail(batch, self._stopped_error())
                raise
            finally:  # what was made for requests that timed out before the gate
                for pending in batch:
                    if isinstance(pending.inputs, Deferred):
                        pending.inputs.release()

    async def _make_first(
        self, index: int, instance: Instance, batch: list[_Pending]
    ) -> Made | None:
        """On a GPU, make the batch's inputs on the instance thread before the batch
        takes the device's gate, so that the gate holds only the device's work: one
        instance decodes (or stacks a host batch, padded to its bucket size) while
        another's batch runs, instead of the GPU waiting on each batch's host work. (On
        the CPU the gate admits a batch per core and decoding inside it keeps decode
        from time-slicing running batches: made there.) A failure here is met again,
        and handled, when the batch runs."""
        if instance.gate.device == "cpu":
            return None
        first = batch[0]
        if (
            len(batch) == 1
            and not isinstance(first.inputs, Deferred)
            and padded_rows(instance.runtime, first.rows) == first.rows
        ):
            return None  # nothing to make or stack: one request's tensors as they are
        self._running_since[index] = self._clock.now()  # a hung decode is a hung instance
        try:
            make = partial(_make_inputs, instance.runtime, [p.rows for p in batch])
            return await self._run_sync(index, make, [p.inputs for p in batch])
        except Exception:
            log.debug("%s: making a batch before the gate failed", self.key, exc_info=True)
            return None
        finally:
            self._running_since.pop(index, None)

    def _stopped_error(self) -> ShuttingDownError:
        return ShuttingDownError(
            f"model {self.key.name!r} stopped before this request ran; retry on another replica"
        )

    @staticmethod
    def _fail(batch: Sequence[_Pending], error: TensorgateError) -> None:
        for item in batch:
            if item.timer is not None:
                item.timer.cancel()
            if not item.future.done():
                item.future.set_exception(error)

    async def _run(
        self, index: int, instance: Instance, batch: list[_Pending], made: Made | None
    ) -> None:
        try:
            error = await self._execute(index, instance, batch, made)
            if error is None or len(batch) == 1 or not isinstance(error, InferenceError):
                self._settle(batch, error)
                return
            # One poison input fails the whole batch: run each request alone, once, so
            # that only the requests that fail on their own get the error (same slot).
            for pending in batch:
                if not pending.future.done():
                    self._settle([pending], await self._execute(index, instance, [pending]))
        finally:
            for pending in batch:
                if isinstance(pending.inputs, Deferred):
                    pending.inputs.release()

    async def _execute(
        self,
        index: int,
        instance: Instance,
        batch: list[_Pending],
        made: Made | None = None,
    ) -> TensorgateError | None:
        """Run one batch (its inputs made on the device already: ``made``); set the
        answers on success (the error is returned, and set by the caller, which may
        retry the requests one by one)."""
        started = self._clock.now()
        rows = [p.rows for p in batch]
        self._running_since[index] = started
        began = time.monotonic()
        answered: list[TensorgateError | None] = []  # the batch's error, once answered
        answer = partial(self._answer, index, instance, batch, rows, started, began, answered)
        self._unanswered.add(id(answered))
        error: TensorgateError | None = None
        ran = Ran([])
        try:
            # Stacking, inference and splitting all run on the instance's thread: the
            # event loop never copies a batch (it only answers the requests). The thread
            # posts the answers itself, ahead of its return to this worker (_infer_then).
            loop = asyncio.get_running_loop()
            run = partial(_infer_then, loop, answer, instance.runtime, rows, made)
            ran = await self._run_sync(index, run, [p.inputs for p in batch])
        except TensorgateError as exc:
            error = exc
        except Exception as exc:
            error = InferenceError(
                f"model {self.key.name!r} failed on a batch of {sum(rows)} rows: "
                f"{type(exc).__name__}: {exc}"
            )
        except asyncio.CancelledError:  # stopped past the drain timeout: _worker fails it
            self._unanswered.discard(id(answered))
            raise
        finally:
            self._running_since.pop(index, None)
        if not answered:  # it failed, or the answer it posted is still queued (inline)
            answer(ran, error)
        return answered[0]

    def _answer(
        self,
        index: int,
        instance: Instance,
        batch: list[_Pending],
        rows: list[int],
        started: float,
        began: float,
        answered: list[TensorgateError | None],
        ran: Ran,
        error: TensorgateError | None,
    ) -> None:
        """Settle a batch that ran (its parts) or failed (``error``, set by the caller),
        once: the timings, the batch's record, each request's future; ``answered`` then
        holds the error (or None)."""
        if answered:
            return
        self._unanswered.discard(id(answered))
        parts, making = ran.parts, ran.making
        # Decoding on the instance comes first: the batch's compute starts after it.
        started += making
        began += making
        compute = max(0.0, self._clock.now() - started)
        unmade = {  # inputs that could not be made (bad images): they never ran
            id(p)
            for p, part in zip(batch, parts, strict=False)
            if isinstance(part, TensorgateError)
        }
        traced: dict[int, tuple[RequestTiming, float]] = {}  # one request's crops share
        for pending in batch:
            if pending.timing is not None and id(pending) not in unmade:
                pending.timing.ran(started - pending.arrival, compute, sum(rows), index)
                if pending.timing.stages is not None:
                    _, entered = traced.get(id(pending.timing), (None, pending.entered))
                    traced[id(pending.timing)] = pending.timing, min(entered, pending.entered)
        for timing, entered in traced.values():  # a span per batch, not per row
            timing.stage("queue", entered, began - making)  # then decoding, then the batch
            timing.stage(
                "batch", began, began + compute, model=str(self.key), rows=sum(rows),
                requests=len(batch), instance=index, device=instance.gate.device,
            )  # fmt: skip
        failed = 0
        if error is None:
            failed = sum(p.rows for p in batch if id(p) in unmade)
        record = BatchRecord(
            model=self.key,
            instance=index,
            device=instance.gate.device,
            rows=sum(rows) - failed,
            requests=len(batch),
            queue_s=tuple(started - p.arrival for p in batch),
            compute_s=compute,
            error=None if error is None else error.message,
            input_s=min(ran.input_s, compute),
            output_s=min(ran.output_s, max(0.0, compute - ran.input_s)),
        )
        try:  # before the answers: a client that reads the statistics next sees its batch
            self._on_batch(record)
        except Exception:  # statistics must never break serving
            log.exception("recording batch statistics failed")
        if error is None:
            for pending, part in zip(batch, parts, strict=True):
                if pending.timer is not None:
                    pending.timer.cancel()
                if pending.future.done():
                    continue
                if isinstance(part, TensorgateError):
                    pending.future.set_exception(part)
                else:
                    pending.future.set_result(part)
        answered.append(error)

    def _settle(self, batch: Sequence[_Pending], error: TensorgateError | None) -> None:
        if error is not None:
            self._fail(batch, error)

    async def stop(self, drain_timeout: float) -> None:
        """Stop taking requests, finish the queued ones for up to ``drain_timeout``
        seconds, then fail whatever is left with ShuttingDownError."""
        if self._state in (BatcherState.STOPPED, BatcherState.DRAINING):
            return
        if self._state is BatcherState.NEW:
            self._state = BatcherState.STOPPED
            return
        self._state = BatcherState.DRAINING
        self._wake()
        workers = list(self._workers)
        if workers:
            finished, unfinished = await asyncio.wait(workers, timeout=drain_timeout)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
            for task in finished:
                if not task.cancelled() and task.exception() is not None:
                    log.error("batcher worker of %s failed", self.key, exc_info=task.exception())
        self._fail(list(self._queue), self._stopped_error())
        self._queue.clear()
        self._queued_rows = 0
        self._state = BatcherState.STOPPED
