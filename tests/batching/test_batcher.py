"""The asyncio batcher with a fake clock and a fake runtime: no sleeps, no threads.

``settle()`` only yields to the event loop until it has nothing left to do; time moves
only when a test calls ``clock.advance``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from tensorgate.batching import buckets
from tensorgate.batching.batcher import Batcher, BatcherState, BatchRecord, Instance, thread_runner
from tensorgate.batching.buckets import PaddedRuntime
from tensorgate.batching.clock import FakeClock
from tensorgate.batching.deferred import Deferred
from tensorgate.batching.gate import DeviceGate
from tensorgate.batching.policy import BatchPolicy
from tensorgate.errors import (
    DeadlineExceededError,
    ImageError,
    InferenceError,
    InvalidInputError,
    QueueFullError,
    ShuttingDownError,
)
from tensorgate.runtimes.fake import FakeRuntime, fake_outputs
from tensorgate.types import Array, ModelKey, Tensors, TensorSpec

IN = (TensorSpec("x", "FP32", (3,)),)
OUT = (TensorSpec("y", "FP32", (2,)),)
KEY = ModelKey("m", 1)
FAR = 1e9


async def settle() -> None:
    """Let every ready task run (yields only; time does not move)."""
    for _ in range(50):
        await asyncio.sleep(0)


async def inline(index: int, fn: Callable[[Any], Any], arg: Any) -> Any:
    await asyncio.sleep(0)  # hand the loop over, as a thread hand-off does; no time passes
    return fn(arg)


def rows(n: int, value: float = 1.0) -> dict[str, Array]:
    return {"x": np.full((n, 3), value, dtype=np.float32)}


class Harness:
    def __init__(
        self,
        policy: BatchPolicy,
        runtimes: list[FakeRuntime] | None = None,
        gate_slots: int = 4,
        run_sync: Callable[[int, Callable[[Tensors], Tensors], Tensors], object] | None = None,
        device: str = "cpu",
    ) -> None:
        self.clock = FakeClock()
        self.runtimes = runtimes or [FakeRuntime(IN, OUT)]
        self.gate = DeviceGate(device, gate_slots)
        self.records: list[BatchRecord] = []
        self.batcher = Batcher(
            KEY,
            policy,
            [Instance(r, self.gate) for r in self.runtimes],
            self.clock,
            run_sync or inline,  # type: ignore[arg-type]
            on_batch=self.records.append,
        )
        self.batcher.start()

    def submit(
        self, n: int = 1, value: float = 1.0, deadline: float = FAR
    ) -> asyncio.Future[dict[str, Array]]:
        return self.batcher.submit(rows(n, value), self.clock.now() + deadline)


async def test_batch_closes_when_first_request_has_waited_the_delay() -> None:
    h = Harness(BatchPolicy(8, max_queue_delay_s=0.010, max_queue_rows=64))
    first = h.submit()
    await settle()
    h.clock.advance(0.004)
    second = h.submit(value=2.0)
    await settle()
    h.clock.advance(0.005)  # 9 ms after the first arrival: still waiting
    await settle()
    assert h.runtimes[0].calls == []
    h.clock.advance(0.001)  # 10 ms: the delay counts from the first arrival
    await settle()
    assert h.runtimes[0].calls == [2]
    np.testing.assert_array_equal((await first)["y"], fake_outputs(rows(1), OUT)["y"])
    np.testing.assert_array_equal((await second)["y"], fake_outputs(rows(1, 2.0), OUT)["y"])
    assert h.records[0].queue_s == pytest.approx((0.010, 0.006))


async def test_batch_closes_at_once_when_full() -> None:
    h = Harness(BatchPolicy(4, max_queue_delay_s=10.0, max_queue_rows=64))
    futures = [h.submit(value=i) for i in range(6)]
    await settle()
    assert h.runtimes[0].calls == [4]
    h.clock.advance(10.0)
    await settle()
    assert h.runtimes[0].calls == [4, 2]
    for i, future in enumerate(futures):
        assert future.result()["y"][0, 0] == pytest.approx(3.0 * i)


async def test_preferred_batch_size_closes_early() -> None:
    h = Harness(
        BatchPolicy(8, max_queue_delay_s=10.0, preferred_batch_sizes=(2,), max_queue_rows=64)
    )
    h.submit()
    await settle()
    assert h.runtimes[0].calls == []
    h.submit()
    await settle()
    assert h.runtimes[0].calls == [2]


async def test_multi_row_requests_and_shapes_that_differ() -> None:
    h = Harness(BatchPolicy(8, max_queue_delay_s=1.0, max_queue_rows=64))
    a = h.submit(3)
    b = h.batcher.submit({"x": np.ones((2, 3), np.float32).astype(np.float64)}, FAR)
    c = h.submit(4)
    h.clock.advance(1.0)
    await settle()
    # The float64 request cannot share a batch with float32 ones, so FIFO order splits.
    assert h.runtimes[0].calls[0] == 3
    h.clock.advance(1.0)
    await settle()
    h.clock.advance(1.0)
    await settle()
    assert sorted(h.runtimes[0].calls) == [2, 3, 4]
    assert a.result()["y"].shape == (3, 2)
    assert b.result()["y"].shape == (2, 2)
    assert c.result()["y"].shape == (4, 2)


async def test_queue_bound_refuses_with_queue_full() -> None:
    h = Harness(BatchPolicy(4, max_queue_delay_s=10.0, max_queue_rows=3))
    h.submit(2)
    h.submit(1)
    with pytest.raises(QueueFullError) as info:
        h.submit(1)
    assert info.value.http_status == 503
    assert info.value.message == (
        "model 'm' has 3 rows queued, its bound is 3; retry later or add instances"
    )


async def test_too_many_rows_is_invalid() -> None:
    h = Harness(BatchPolicy(4, max_queue_rows=64))
    with pytest.raises(InvalidInputError, match="has 5 rows but model 'm' takes at most 4"):
        h.submit(5)


async def test_deadline_expires_in_queue_and_request_is_dropped() -> None:
    h = Harness(BatchPolicy(4, max_queue_delay_s=1.0, max_queue_rows=64))
    doomed = h.submit(deadline=0.5)
    survivor = h.submit(deadline=5.0)
    h.clock.advance(0.5)
    await settle()
    with pytest.raises(
        DeadlineExceededError, match=r"did not answer within the request's deadline of 0\.500 s"
    ):
        doomed.result()
    h.clock.advance(0.5)
    await settle()
    assert h.runtimes[0].calls == [1]  # the expired request never reached the runtime
    assert survivor.result()["y"].shape == (1, 2)


async def test_cancelled_request_is_dropped_before_it_runs() -> None:
    h = Harness(BatchPolicy(4, max_queue_delay_s=1.0, max_queue_rows=64))
    gone = h.submit(value=9.0)
    kept = h.submit(value=1.0)
    gone.cancel()  # what the HTTP layer does when the client disconnects
    h.clock.advance(1.0)
    await settle()
    assert h.runtimes[0].calls == [1]
    assert kept.result()["y"][0, 0] == pytest.approx(3.0)


def poisoned_runtime() -> FakeRuntime:
    """A runtime that fails any batch holding a value above 5 (a poison input)."""

    def explode(inputs: Tensors) -> Tensors:
        if float(inputs["x"].max()) > 5:
            raise ValueError("boom")
        return fake_outputs(inputs, OUT)

    return FakeRuntime(IN, OUT, explode)


async def test_a_poison_input_fails_only_its_own_request_and_nothing_hangs() -> None:
    runtime = poisoned_runtime()
    h = Harness(BatchPolicy(4, max_queue_delay_s=1.0, max_queue_rows=64), [runtime])
    good, poison, other = (h.submit(value=v) for v in (1.0, 9.0, 2.0))
    h.clock.advance(1.0)
    await settle()
    # The batch of 3 fails; each request then runs alone, once.
    assert runtime.calls == [3, 1, 1, 1]
    with pytest.raises(
        InferenceError, match="model 'm' failed on a batch of 1 rows: ValueError: boom"
    ):
        poison.result()
    assert good.result()["y"][0, 0] == pytest.approx(3.0)
    assert other.result()["y"][0, 0] == pytest.approx(6.0)
    assert [r.error is None for r in h.records] == [False, True, False, True]
    after = h.submit(value=1.0)
    h.clock.advance(1.0)
    await settle()
    assert after.result()["y"].shape == (1, 2)


async def test_a_batch_that_fails_everywhere_fails_every_request_once_each() -> None:
    def always(inputs: Tensors) -> Tensors:
        raise ValueError("broken model")

    runtime = FakeRuntime(IN, OUT, always)
    h = Harness(BatchPolicy(4, max_queue_delay_s=1.0, max_queue_rows=64), [runtime])
    batch = [h.submit(value=v) for v in (1.0, 2.0)]
    h.clock.advance(1.0)
    await settle()
    assert runtime.calls == [2, 1, 1]  # retried alone once each, never more
    for future in batch:
        with pytest.raises(InferenceError, match="ValueError: broken model"):
            future.result()


async def test_output_rows_must_match_input_rows() -> None:
    short = FakeRuntime(IN, OUT, lambda inputs: {"y": np.zeros((1, 2), np.float32)})
    h = Harness(BatchPolicy(4, max_queue_delay_s=0.0, max_queue_rows=64), [short])
    a = h.submit(2)
    await settle()
    with pytest.raises(
        InferenceError, match="returned 1 rows for output 'y' but the batch has 2 rows"
    ):
        a.result()


async def test_compute_time_is_recorded_per_batch() -> None:
    clock_holder: list[FakeClock] = []

    def slow(inputs: Tensors) -> Tensors:
        clock_holder[0].advance(0.025)  # the "device" takes 25 ms
        return fake_outputs(inputs, OUT)

    h = Harness(
        BatchPolicy(4, max_queue_delay_s=0.002, max_queue_rows=64), [FakeRuntime(IN, OUT, slow)]
    )
    clock_holder.append(h.clock)
    h.submit()
    h.clock.advance(0.002)
    await settle()
    (record,) = h.records
    assert record.compute_s == pytest.approx(0.025)
    assert record.queue_s == pytest.approx((0.002,))
    assert (record.rows, record.requests, record.device, record.error) == (1, 1, "cpu", None)


async def test_gate_admits_one_batch_per_slot() -> None:
    """Two instances behind a one-slot gate never run at the same time."""
    release: list[asyncio.Future[None]] = []
    running = 0
    peak = 0

    async def held(index: int, fn: Callable[[Any], Any], arg: Any) -> Any:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        gate_open: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        release.append(gate_open)
        await gate_open
        running -= 1
        return fn(arg)

    runtimes = [FakeRuntime(IN, OUT), FakeRuntime(IN, OUT)]
    h = Harness(BatchPolicy(1, max_queue_rows=64), runtimes, gate_slots=1, run_sync=held)
    futures = [h.submit(), h.submit()]
    await settle()
    assert len(release) == 1
    assert h.gate.statistics().waiting == 1
    release[0].set_result(None)
    await settle()
    assert len(release) == 2
    release[1].set_result(None)
    await settle()
    assert peak == 1
    assert all(f.done() for f in futures)
    assert h.gate.statistics().admitted == 2


async def test_stop_drains_queued_requests() -> None:
    h = Harness(BatchPolicy(4, max_queue_delay_s=100.0, max_queue_rows=64))
    queued = [h.submit() for _ in range(3)]
    await h.batcher.stop(drain_timeout=30.0)
    assert all(f.result()["y"].shape == (1, 2) for f in queued)
    assert h.batcher.state is BatcherState.STOPPED
    with pytest.raises(ShuttingDownError):
        h.submit()


async def test_stop_past_the_drain_timeout_fails_what_is_left() -> None:
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def stuck(index: int, fn: Callable[[Any], Any], arg: Any) -> Any:
        await never
        return fn(arg)

    h = Harness(BatchPolicy(1, max_queue_rows=64), run_sync=stuck)
    running = h.submit()
    waiting = h.submit()
    await settle()
    await h.batcher.stop(drain_timeout=0.0)
    for future in (running, waiting):
        with pytest.raises(ShuttingDownError, match="stopped before this request ran"):
            future.result()


async def test_idle_instances_share_a_delayed_batch() -> None:
    runtimes = [FakeRuntime(IN, OUT), FakeRuntime(IN, OUT)]
    h = Harness(BatchPolicy(8, max_queue_delay_s=1.0, max_queue_rows=64), runtimes)
    futures = [h.submit(value=i) for i in range(6)]
    await settle()  # both instances are now waiting for the delay to pass
    h.clock.advance(1.0)
    await settle()
    assert (runtimes[0].calls, runtimes[1].calls) == ([3], [3])
    assert all(f.done() for f in futures)


async def test_thread_runner_pins_each_instance_to_a_core() -> None:
    import os

    cores = sorted(os.sched_getaffinity(0))
    run, shutdown = thread_runner(2, cores[:1])
    try:
        seen = await run(1, lambda _: {"cores": np.array(sorted(os.sched_getaffinity(0)))}, {})
        assert seen["cores"].tolist() == cores[:1]
    finally:
        shutdown()
    run, shutdown = thread_runner(1)
    try:
        seen = await run(0, lambda _: {"cores": np.array(sorted(os.sched_getaffinity(0)))}, {})
        assert seen["cores"].tolist() == cores
    finally:
        shutdown()


def deferred(value: float, made: list[float], fail: bool = False) -> Deferred:
    """An input made on the instance: records that it was made; ``fail``: a bad image."""

    def make() -> tuple[Tensors, object]:
        made.append(value)
        if fail:
            raise ImageError(f"image {value} is not an image")
        return rows(1, value), f"geometry {value}"

    return Deferred(make, (("x", (3,), "<f4"),))


async def test_deferred_inputs_are_made_when_their_batch_runs_and_share_it() -> None:
    h = Harness(BatchPolicy(4, max_queue_delay_s=1.0, max_queue_rows=64))
    made: list[float] = []
    items = [deferred(v, made) for v in (1.0, 2.0)]
    futures = [h.batcher.submit(d, FAR) for d in items]
    plain = h.submit(value=3.0)  # tensors and deferred inputs of one shape share a batch
    await settle()
    assert made == []  # queued undecoded: nothing is made before the batch runs
    h.clock.advance(1.0)
    await settle()
    assert made == [1.0, 2.0]
    assert h.runtimes[0].calls == [3]
    assert [f.result()["y"][0, 0] for f in futures] == [pytest.approx(3.0), pytest.approx(6.0)]
    assert plain.result()["y"][0, 0] == pytest.approx(9.0)
    assert [d.extra for d in items] == ["geometry 1.0", "geometry 2.0"]
    assert h.records[0].rows == 3


async def test_a_deferred_input_that_fails_fails_only_its_request() -> None:
    h = Harness(BatchPolicy(4, max_queue_delay_s=1.0, max_queue_rows=64))
    made: list[float] = []
    items = [deferred(1.0, made), deferred(2.0, made, fail=True), deferred(3.0, made)]
    good, bad, other = (h.batcher.submit(d, FAR) for d in items)
    h.clock.advance(1.0)
    await settle()
    # Settled: the inputs let go of their pixels and failures (no batch kept alive by a
    # traceback cycle), and the failure on the future carries no traceback of the batch.
    assert all(d._tensors is None and d.error is None for d in items)
    assert bad.exception() is not None
    assert bad.exception().__traceback__ is None  # type: ignore[union-attr]
    with pytest.raises(ImageError, match=r"image 2\.0 is not an image"):
        bad.result()
    assert good.result()["y"][0, 0] == pytest.approx(3.0)
    assert other.result()["y"][0, 0] == pytest.approx(9.0)
    assert h.runtimes[0].calls == [2]  # the bad one never reached the model
    assert made == [1.0, 2.0, 3.0]
    assert h.records[0].rows == 2
    assert h.records[0].error is None


async def test_a_poison_batch_retried_alone_does_not_make_its_inputs_twice() -> None:
    runtime = poisoned_runtime()
    h = Harness(BatchPolicy(4, max_queue_delay_s=1.0, max_queue_rows=64), [runtime])
    made: list[float] = []
    good = h.batcher.submit(deferred(1.0, made), FAR)
    poison = h.batcher.submit(deferred(9.0, made), FAR)
    h.clock.advance(1.0)
    await settle()
    assert runtime.calls == [2, 1, 1]
    assert made == [1.0, 9.0]  # made once each, though each ran twice
    assert good.result()["y"][0, 0] == pytest.approx(3.0)
    with pytest.raises(InferenceError, match="boom"):
        poison.result()


async def test_a_deferred_input_of_another_shape_than_declared_is_refused() -> None:
    h = Harness(BatchPolicy(4, max_queue_delay_s=0.0, max_queue_rows=64))
    wrong = Deferred(lambda: (rows(1), None), (("x", (4,), "<f4"),))
    future = h.batcher.submit(wrong, FAR)
    await settle()
    with pytest.raises(InferenceError, match="declared shape"):
        future.result()


class Steps:
    """A run_sync that holds each call until released, logging what ran where."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.held: list[asyncio.Future[None]] = []

    async def __call__(self, index: int, fn: Callable[[Any], Any], arg: Any) -> Any:
        step = "make" if fn.func.__name__ == "_make_inputs" else "run"  # type: ignore[attr-defined]
        self.log.append(f"{step} {index}")
        release: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.held.append(release)
        await release
        return fn(arg)

    async def release(self) -> None:
        self.held.pop(0).set_result(None)
        await settle()


@pytest.mark.parametrize("device", ["cuda:0", "cpu"])
async def test_on_a_gpu_a_batch_is_made_before_it_takes_the_gate(device: str) -> None:
    """On a GPU, batch B is made while batch A holds the gate (the gate covers only the
    device's work); on the CPU it is made under the gate, after A (no decode
    time-slices a running batch)."""
    steps = Steps()
    runtimes = [FakeRuntime(IN, OUT), FakeRuntime(IN, OUT)]
    h = Harness(BatchPolicy(1, max_queue_rows=64), runtimes, 1, steps, device)
    made: list[float] = []
    a = h.batcher.submit(deferred(1.0, made), FAR)
    await settle()
    if device == "cpu":
        assert steps.log == ["run 0"]
        b = h.batcher.submit(deferred(2.0, made), FAR)
        await settle()
        assert h.gate.statistics().waiting == 1  # B waits for the gate, unmade
        await steps.release()  # A made and run
        assert made == [1.0]
        assert steps.log == ["run 0", "run 1"]
        await steps.release()
        assert made == [1.0, 2.0]
    else:
        assert steps.log == ["make 0"]
        await steps.release()  # A made; it takes the gate and runs
        assert made == [1.0]
        assert steps.log == ["make 0", "run 0"]
        b = h.batcher.submit(deferred(2.0, made), FAR)
        await settle()
        assert steps.log == ["make 0", "run 0", "make 1"]  # B is made while A runs
        await steps.release()  # A's run
        await steps.release()  # B made; A is done, so B takes the gate at once
        assert made == [1.0, 2.0]
        assert steps.log[-1] == "run 1"
        await steps.release()
    assert a.result()["y"][0, 0] == pytest.approx(3.0)
    assert b.result()["y"][0, 0] == pytest.approx(6.0)
    assert h.gate.statistics().admitted == 2


async def test_a_batch_made_ahead_counts_its_making_as_queueing_not_compute() -> None:
    h = Harness(BatchPolicy(1, max_queue_rows=64), gate_slots=1, device="cuda:0")

    def make() -> tuple[Tensors, object]:
        h.clock.advance(0.5)  # half a second of decoding
        return rows(1, 1.0), None

    future = h.batcher.submit(Deferred(make, (("x", (3,), "<f4"),)), FAR)
    await settle()
    assert future.result()["y"][0, 0] == pytest.approx(3.0)
    (record,) = h.records
    assert record.queue_s == pytest.approx((0.5,))
    assert record.compute_s == 0.0


async def test_a_request_that_times_out_before_the_gate_lets_go_of_what_was_made() -> None:
    steps = Steps()
    runtimes = [FakeRuntime(IN, OUT)]
    h = Harness(BatchPolicy(2, max_queue_rows=64), runtimes, 1, steps, "cuda:0")
    made: list[float] = []
    late, kept = deferred(1.0, made), deferred(2.0, made)
    other_model: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def hold_the_gate() -> None:  # another model's batch on the same GPU
        async with h.gate.slot():
            await other_model

    holder = asyncio.create_task(hold_the_gate())
    expiring = h.batcher.submit(late, h.clock.now() + 1.0)
    waiting = h.batcher.submit(kept, FAR)
    await settle()
    assert steps.log == ["make 0"]
    await steps.release()  # both made, before the gate
    assert made == [1.0, 2.0]
    assert h.gate.statistics().waiting == 1
    h.clock.advance(1.0)  # one expires while its batch waits for the gate
    await settle()
    other_model.set_result(None)
    await holder
    await settle()
    assert steps.log == ["make 0", "run 0"]
    await steps.release()
    assert isinstance(expiring.exception(), Exception)
    assert waiting.result()["y"][0, 0] == pytest.approx(6.0)
    assert runtimes[0].calls == [1]  # only the live request ran, made once
    assert made == [1.0, 2.0]
    assert late._tensors is None
    assert kept._tensors is None


async def test_a_batchs_compute_is_split_into_stacking_running_and_cutting_back() -> None:
    """Triton's compute_input / compute_infer / compute_output: the instance thread
    times the stacking and the cutting back; the runtime's call is the rest."""
    advance: list[Callable[[float], None]] = []

    def run(inputs: Tensors) -> Tensors:
        advance[0](0.25)  # the model's quarter of a second
        return {"y": inputs["x"][:, :2] * 2}

    h = Harness(BatchPolicy(8, max_queue_rows=64), [FakeRuntime(IN, OUT, run)])
    advance.append(h.clock.advance)
    first, second = h.batcher.submit(rows(2, 1.0), FAR), h.batcher.submit(rows(3, 2.0), FAR)
    await settle()
    assert first.result()["y"].shape == (2, 2)
    assert second.result()["y"][0, 0] == 4.0
    (record,) = h.records
    assert (record.rows, record.requests, record.compute_s) == (5, 2, 0.25)
    assert 0.0 < record.input_s < 0.01  # two requests stacked into one array
    assert 0.0 < record.output_s < 0.01  # the outputs cut back in two
    assert record.infer_s == pytest.approx(0.25 - record.input_s - record.output_s)


async def test_a_padded_batch_is_stacked_at_its_bucket_size_in_one_copy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The batcher stacks a padded runtime's batch at its bucket size, the padding
    included, instead of a stack the runtime then copies again to pad."""

    def no_second_copy(array: Array, rows: int) -> Array:
        raise AssertionError(f"padded again: {rows} rows")

    monkeypatch.setattr(buckets, "_zeros_after", no_second_copy)
    inner = FakeRuntime(IN, OUT)
    h = Harness(BatchPolicy(8, max_queue_rows=64), [PaddedRuntime(inner, (1, 2, 4, 8))])  # type: ignore[list-item]
    first, second = h.submit(2, 1.0), h.submit(1, 2.0)
    await settle()
    assert inner.calls == [4]  # 3 rows, run as 4
    assert first.result()["y"].shape == (2, 2)
    assert second.result()["y"][:, 0].tolist() == [6.0]
    assert h.records[0].rows == 3


async def test_on_a_gpu_tensor_requests_are_stacked_before_the_gate() -> None:
    """A batch of tensor requests (V2 infer, or images decoded in the pool) is stacked on
    its instance thread before it takes a GPU's gate; one request that needs no padding
    goes straight to the gate."""
    steps = Steps()
    runtimes = [FakeRuntime(IN, OUT)]
    h = Harness(BatchPolicy(8, max_queue_rows=64), runtimes, 1, steps, "cuda:0")
    other_model: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def hold_the_gate() -> None:  # another model's batch on the same GPU
        async with h.gate.slot():
            await other_model

    holder = asyncio.create_task(hold_the_gate())
    first, second = h.submit(2, 1.0), h.submit(1, 2.0)
    await settle()
    assert steps.log == ["make 0"]  # stacked while the other model holds the GPU
    await steps.release()
    assert h.gate.statistics().waiting == 1
    other_model.set_result(None)
    await holder
    await settle()
    assert steps.log == ["make 0", "run 0"]
    await steps.release()
    assert first.result()["y"][:, 0].tolist() == [3.0, 3.0]
    assert second.result()["y"][:, 0].tolist() == [6.0]
    assert runtimes[0].calls == [3]
    alone = h.submit(2, 1.0)
    await settle()
    assert steps.log[-1] == "run 0"  # nothing to stack: no hop before the gate
    await steps.release()
    assert alone.result()["y"].shape == (2, 2)
