"""A model whose inference hangs: its requests get 504 at their deadlines, the version is
replaced by a fresh copy once a batch has run past the hang limit (readiness is off
meanwhile), and the other models serve throughout."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
import pytest

from tensorgate.batching.clock import FakeClock
from tensorgate.config import EngineSettings
from tensorgate.engine import Engine
from tensorgate.errors import DeadlineExceededError
from tensorgate.runtimes.base import RuntimeOptions
from tensorgate.runtimes.fake import FakeRuntime, fake_outputs
from tensorgate.types import Tensors
from tests.helpers import write_model

SPEC = {
    "backend": "fake",
    "max_batch_size": 4,
    "instance_group": {"count": 1},
    "inputs": [{"name": "x", "datatype": "FP32", "dims": [2]}],
    "outputs": [{"name": "y", "datatype": "FP32", "dims": [2]}],
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    write_model(tmp_path, "stuck", None, SPEC)
    write_model(tmp_path, "other", None, SPEC)
    return tmp_path


async def test_a_hung_instance_gets_504s_then_a_fresh_copy(repo: Path) -> None:
    release, hanging = threading.Event(), threading.Event()
    built: list[FakeRuntime] = []

    def factory(path: Path, options: RuntimeOptions) -> FakeRuntime:
        def infer(inputs: Tensors) -> Tensors:
            if float(inputs["x"].sum()) == 7.0:  # the input this model hangs on
                hanging.set()
                release.wait(30)
            return fake_outputs(inputs, options.outputs)

        runtime = FakeRuntime(options.inputs, options.outputs, infer)
        built.append(runtime)
        return runtime

    clock = FakeClock()
    settings = EngineSettings(
        repository=repo, request_timeout_s=5.0, hang_timeout_s=20.0, drain_timeout_s=0.5
    )
    poison = {"x": np.array([[3.0, 4.0]], np.float32)}
    fine = {"x": np.array([[1.0, 2.0]], np.float32)}
    try:
        async with Engine(settings, clock=clock, factories={"fake": factory}) as engine:
            hung = asyncio.ensure_future(engine.infer("stuck", poison))
            assert await asyncio.to_thread(hanging.wait, 10)  # its batch runs, and hangs
            clock.advance(5.1)  # past the request's deadline: 504, the batch still runs
            with pytest.raises(DeadlineExceededError):
                await hung
            assert engine.ready  # not yet past the hang limit
            np.testing.assert_array_equal((await engine.infer("other", fine))["y"], [[3, 4]])
            for _ in range(16):  # 21.1 s into the batch: the watchdog replaces the copy
                clock.advance(1.0)
            assert not engine.ready  # readiness says so while the copy loads
            await asyncio.gather(*engine._replacements)  # the replacement finished
            assert engine.ready
            assert len(built) == 3  # stuck, other, then stuck's fresh copy
            answer = await engine.infer("stuck", fine)  # served by the fresh instance
            np.testing.assert_array_equal(answer["y"], [[3, 4]])
            assert not built[0].closed  # the hung runtime is left open, not closed under it
    finally:
        release.set()  # let the leaked thread finish
