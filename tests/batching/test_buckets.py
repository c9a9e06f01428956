"""Padded batches: the runtime sees only bucket sizes, the caller its own rows, the
same values, and every bucket runs once at load; with a runtime per size, each runtime
sees one shape only."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import numpy as np
import pytest

from tensorgate import Engine, EngineSettings
from tensorgate.batching.buckets import (
    PaddedRuntime,
    bucket_for,
    buckets,
    padded,
    pads,
    session_per_size,
)
from tensorgate.engine import _warm_up
from tensorgate.errors import ConfigError
from tensorgate.runtimes.base import DeviceRuntime, RuntimeOptions
from tensorgate.runtimes.fake import FakeRuntime, fake_outputs, load_fake
from tensorgate.runtimes.onnx import OnnxRuntime
from tensorgate.types import TensorSpec
from tests.helpers import build_test_repository


def test_bucket_sizes() -> None:
    assert buckets(64) == (1, 2, 4, 8, 16, 32, 64)
    assert buckets(48) == (1, 2, 4, 8, 16, 32, 48)
    assert buckets(1) == (1,)
    sizes = buckets(64)
    assert [bucket_for(n, sizes) for n in (1, 2, 3, 5, 33, 64)] == [1, 2, 4, 8, 64, 64]
    assert bucket_for(65, sizes) == 65  # past the largest: as it is
    assert pads("gpu", "cuda:0", 8)
    assert not pads("gpu", "cpu", 8)
    assert pads("always", "cpu", 8)
    assert not pads("never", "cuda:0", 8)
    assert not pads("always", "cpu", 1)  # nothing to pad to
    with pytest.raises(ConfigError, match="pad_batches is 'yes'; use 'gpu', 'always' or 'never'"):
        EngineSettings(pad_batches="yes")


def test_the_runtime_sees_buckets_and_the_caller_its_rows() -> None:
    inner = FakeRuntime((TensorSpec("x", "FP32", (3,)),), (TensorSpec("y", "FP32", (2,)),))
    runtime = padded(inner, 8)
    assert not isinstance(runtime, DeviceRuntime)  # the fake takes host tensors only
    for rows in (1, 3, 5, 8):
        x = np.arange(rows * 3, dtype=np.float32).reshape(rows, 3) + 1
        out = runtime.infer({"x": x})
        np.testing.assert_array_equal(out["y"], fake_outputs({"x": x}, inner.outputs)["y"])
    assert inner.calls == [1, 4, 8, 8]
    inner.calls.clear()
    _warm_up(runtime)  # what the engine runs at load: each bucket once
    assert inner.calls == [1, 2, 4, 8]


def test_padding_a_real_model_changes_no_value(lite0_dir: Path) -> None:
    torch = pytest.importorskip("torch")
    runtime = padded(OnnxRuntime(lite0_dir / "1" / "model.onnx", RuntimeOptions()), 8)
    assert isinstance(runtime, DeviceRuntime)
    pixels = np.random.default_rng(0).standard_normal((3, 3, 224, 224)).astype(np.float32)
    alone = runtime.inner.infer({"input": pixels})["logits"]
    padded_host = runtime.infer({"input": pixels})["logits"]
    padded_device = runtime.infer_device({"input": torch.from_numpy(pixels)})["logits"]
    assert padded_host.shape == padded_device.shape == (3, 1000)
    np.testing.assert_allclose(padded_host, alone, atol=1e-4)
    np.testing.assert_allclose(padded_device, alone, atol=1e-4)


async def test_the_engine_pads_and_warms_every_bucket(tmp_path: Path) -> None:
    repo = build_test_repository(tmp_path)  # "fake": max_batch_size 4, 3 floats in
    settings = EngineSettings(repository=repo, models=("fake",), instances=1, pad_batches="always")
    async with Engine(settings) as engine:
        runtime = engine._registry.model("fake").runtimes[0]
        assert isinstance(runtime, PaddedRuntime)
        inner = runtime.inner
        assert isinstance(inner, FakeRuntime)
        assert inner.calls == [1, 2, 4]  # warmed at load, before the first request
        inner.calls.clear()
        xs = [np.full((1, 3), i, np.float32) for i in range(3)]
        outs = await asyncio.gather(*(engine.infer("fake", {"x": x}) for x in xs))
        for x, out in zip(xs, outs, strict=True):
            np.testing.assert_array_equal(out["y"], fake_outputs({"x": x}, inner.outputs)["y"])
        assert set(inner.calls) <= {1, 2, 4}
        assert sum(inner.calls) >= 3
    async with Engine(EngineSettings(repository=repo, models=("fake",), instances=1)) as engine:
        assert isinstance(engine._registry.model("fake").runtimes[0], FakeRuntime)  # CPU: no


def _fake() -> FakeRuntime:
    return FakeRuntime((TensorSpec("x", "FP32", (3,)),), (TensorSpec("y", "FP32", (2,)),))


def test_each_bucket_size_can_have_its_own_runtime() -> None:
    inner, made = _fake(), []

    def make() -> FakeRuntime:
        made.append(_fake())
        return made[-1]

    runtime = padded(inner, 8, make)
    assert sorted(runtime.per_size) == [1, 2, 4]  # the inner runtime runs 8 (and past it)
    _warm_up(runtime)
    for rows in (3, 1, 8, 2, 4, 3, 12):
        x = np.arange(rows * 3, dtype=np.float32).reshape(rows, 3)
        np.testing.assert_array_equal(
            runtime.infer({"x": x})["y"], fake_outputs({"x": x}, inner.outputs)["y"]
        )
    # each runtime only ever saw one shape (but past the largest size, which is as it is)
    assert [r.calls for r in made] == [[1, 1], [2, 2], [4, 4, 4, 4]]
    assert inner.calls == [8, 8, 12]
    runtime.close()
    assert inner.closed
    assert all(r.closed for r in made)


def test_a_failed_runtime_per_size_closes_those_made() -> None:
    made: list[FakeRuntime] = []

    def make() -> FakeRuntime:
        if len(made) == 2:
            raise ConfigError("out of device memory")
        made.append(_fake())
        return made[-1]

    with pytest.raises(ConfigError, match="out of device memory"):
        padded(_fake(), 8, make)
    assert len(made) == 2
    assert all(r.closed for r in made)


def test_which_runtimes_get_a_runtime_per_size(lite0_dir: Path) -> None:
    class Replanning(FakeRuntime):
        replans_on_shape_change = True

    assert session_per_size("auto", Replanning((), ()))
    assert not session_per_size("auto", _fake())
    assert session_per_size("always", _fake())
    assert not session_per_size("never", Replanning((), ()))
    on_cpu = OnnxRuntime(lite0_dir / "1" / "model.onnx", RuntimeOptions())
    assert not on_cpu.replans_on_shape_change  # the CPU provider plans per call
    with pytest.raises(
        ConfigError, match="sessions_per_size is 'yes'; use 'auto', 'always' or 'never'"
    ):
        EngineSettings(sessions_per_size="yes")


def test_a_real_model_with_a_session_per_size_changes_no_value(lite0_dir: Path) -> None:
    onnx = lite0_dir / "1" / "model.onnx"
    runtime = padded(
        OnnxRuntime(onnx, RuntimeOptions()), 4, lambda: OnnxRuntime(onnx, RuntimeOptions())
    )
    assert sorted(runtime.per_size) == [1, 2]
    pixels = np.random.default_rng(0).standard_normal((3, 3, 224, 224)).astype(np.float32)
    alone = runtime.inner.infer({"input": pixels})["logits"]
    for rows in (1, 2, 3):
        np.testing.assert_allclose(
            runtime.infer({"input": pixels[:rows]})["logits"], alone[:rows], atol=1e-4
        )
    runtime.close()


def _engine_with_a_session_per_size(
    tmp_path: Path, instances: int, fail_after: int | None = None
) -> tuple[Engine, list[FakeRuntime]]:
    """The "fake" model (max_batch_size 4: sizes 1, 2 and 4) padded, with a runtime per
    size, and the runtimes its factory made (it fails after ``fail_after`` of them)."""
    repo = build_test_repository(tmp_path)
    made: list[FakeRuntime] = []

    def factory(path: Path, options: RuntimeOptions) -> FakeRuntime:
        if len(made) == fail_after:
            raise ConfigError(f"{path}: onnxruntime cannot load this model: out of memory")
        made.append(load_fake(path, options))
        return made[-1]

    settings = EngineSettings(
        repository=repo, models=("fake",), instances=instances, pad_batches="always",
        sessions_per_size="always",
    )  # fmt: skip
    return Engine(settings, factories={"fake": factory}), made


async def test_the_engine_gives_each_instance_a_runtime_per_size(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine, made = _engine_with_a_session_per_size(tmp_path, instances=2)
    caplog.set_level(logging.INFO, logger="tensorgate")
    async with engine:
        runtimes = engine._registry.model("fake").runtimes
        assert len(made) == 2 * 3  # two instances × sizes 1, 2 and 4
        for runtime in runtimes:
            assert isinstance(runtime, PaddedRuntime)
            assert sorted(runtime.per_size) == [1, 2]
        assert sorted(r.calls for r in made) == [[1], [1], [2], [2], [4], [4]]  # warmed
        (ready,) = [r for r in caplog.records if r.getMessage() == "model ready"]
        assert ready.sessions_per_instance == 3  # type: ignore[attr-defined]
        xs = [np.full((1, 3), i, np.float32) for i in range(7)]
        outs = await asyncio.gather(*(engine.infer("fake", {"x": x}) for x in xs))
        for x, out in zip(xs, outs, strict=True):
            np.testing.assert_array_equal(out["y"], fake_outputs({"x": x}, made[0].outputs)["y"])
        assert all(len(set(r.calls)) == 1 for r in made)  # each one shape, ever
    assert all(r.closed for r in made)


async def test_a_session_per_size_that_cannot_be_made_fails_the_load_naming_the_fix(
    tmp_path: Path,
) -> None:
    engine, made = _engine_with_a_session_per_size(tmp_path, instances=1, fail_after=2)
    async with engine:
        (status,) = engine.statuses()  # unavailable, the server up
        assert "out of memory (while making a session for each of the 3 batch sizes" in (
            status.reason
        )
        assert "--sessions-per-size never keeps one an instance" in status.reason
    assert all(r.closed for r in made)  # the instance and the session made for size 1
