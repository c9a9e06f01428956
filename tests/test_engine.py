"""The Engine over a real repository: fake and ONNX models, states, errors, stats."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tensorgate import (
    ConfigError,
    DeadlineExceededError,
    Engine,
    EngineSettings,
    ImageError,
    InvalidInputError,
    ModelNotFoundError,
    ModelNotReadyError,
    ModelState,
    QueueFullError,
    ShuttingDownError,
)
from tensorgate.batching.clock import FakeClock
from tensorgate.protocol.models import statistics_v2
from tensorgate.runtimes.fake import FakeRuntime, fake_outputs
from tensorgate.runtimes.onnx import load_onnx
from tensorgate.types import TensorSpec
from tests.conftest import CAT_CLASSES, ESPRESSO
from tests.helpers import build_test_repository


@pytest.fixture(scope="module")
def small_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_test_repository(tmp_path_factory.mktemp("small"), broken=True)


async def test_loads_models_and_reports_states(small_repo: Path) -> None:
    async with Engine(EngineSettings(repository=small_repo, instances=1)) as engine:
        states = {(s.name, s.version): s for s in engine.statuses()}
        assert states[("fake", 1)].state is ModelState.READY
        assert states[("add_sub_fp32", 1)].state is ModelState.READY
        broken = states[("broken", None)]
        assert broken.state is ModelState.UNAVAILABLE
        assert "field 'max_batch_size' is -3; must be >= 1" in broken.reason
        assert not engine.ready  # strict readiness, as Triton: a model failed to load
        with pytest.raises(
            ModelNotReadyError, match=r"model 'broken' is UNAVAILABLE: .*max_batch_size"
        ):
            engine.model("broken")
        with pytest.raises(ModelNotFoundError, match="model 'nope' is not served here"):
            engine.model("nope")
        with pytest.raises(
            ModelNotFoundError, match="model 'fake' has no version 3; versions: \\[1\\]"
        ):
            engine.model("fake", 3)


async def test_infer_through_the_batcher(small_repo: Path) -> None:
    settings = EngineSettings(repository=small_repo, models=("fake", "add_sub_fp32"), instances=2)
    async with Engine(settings) as engine:
        assert engine.ready
        x = np.arange(6, dtype=np.float32).reshape(2, 3)
        out = await engine.infer("fake", {"x": x})
        want = fake_outputs({"x": x}, (TensorSpec("y", "FP32", (2,)),))
        np.testing.assert_array_equal(out["y"], want["y"])
        a = np.ones((3, 16), np.float32)
        out = await engine.infer("add_sub_fp32", {"INPUT0": a, "INPUT1": a}, outputs=["OUTPUT1"])
        assert list(out) == ["OUTPUT1"]
        with pytest.raises(InvalidInputError, match="model 'add_sub_fp32' has no output 'OUTPUT9'"):
            await engine.infer("add_sub_fp32", {"INPUT0": a, "INPUT1": a}, outputs=["OUTPUT9"])
        (stats,) = [statistics_v2(v) for v in engine.statistics("fake")]
        assert stats["inference_count"] == 2
        assert stats["inference_stats"]["success"]["count"] == 1


async def test_statistics_split_each_batchs_compute_as_triton_does(small_repo: Path) -> None:
    settings = EngineSettings(
        repository=small_repo, models=("add_sub_fp32",), instances=1, max_queue_delay_ms=200.0
    )
    async with Engine(settings) as engine:
        a = np.ones((3, 16), np.float32)
        await asyncio.gather(  # queued in one loop step: one batch of two requests
            *(engine.infer("add_sub_fp32", {"INPUT0": a, "INPUT1": a}) for _ in range(2))
        )
        (stats,) = [statistics_v2(v) for v in engine.statistics("add_sub_fp32")]
    phases = ("compute_input", "compute_infer", "compute_output")
    inference = stats["inference_stats"]
    assert [inference[p]["count"] for p in phases] == [2, 2, 2]  # per request
    assert all(inference[p]["ns"] > 0 for p in phases), inference
    (batch,) = stats["batch_stats"]
    assert batch["batch_size"] == 6
    assert [batch[p]["count"] for p in phases] == [1, 1, 1]  # per batch
    assert all(batch[p]["ns"] > 0 for p in phases), batch
    assert inference["compute_input"]["ns"] == pytest.approx(
        2 * batch["compute_input"]["ns"], abs=2
    )


async def test_a_request_past_its_deadline_gets_504(small_repo: Path) -> None:
    clock = FakeClock()
    running, release = asyncio.Event(), asyncio.Event()

    async def held(index: int, fn: Callable[[Any], Any], arg: Any) -> Any:
        running.set()
        await release.wait()  # the first batch holds the only instance
        return fn(arg)

    settings = EngineSettings(repository=small_repo, models=("fake",), instances=1)
    async with Engine(settings, clock=clock, run_sync=held) as engine:
        x = np.zeros((1, 3), np.float32)
        first = asyncio.create_task(engine.infer("fake", {"x": x}))
        await running.wait()
        late = asyncio.create_task(engine.infer("fake", {"x": x}, timeout_s=0.5))
        # Yield one loop turn at a time (no timer involved) until it is queued.
        while engine._registry.model("fake").batcher.queued_rows == 0:  # noqa: ASYNC110
            await asyncio.sleep(0)
        clock.advance(0.4)
        assert not late.done()
        clock.advance(0.2)  # past its deadline while it waits for the instance
        with pytest.raises(DeadlineExceededError) as info:
            await late
        assert info.value.http_status == 504
        release.set()
        assert (await first)["y"].shape[0] == 1


async def test_unknown_model_in_settings_is_refused(small_repo: Path) -> None:
    engine = Engine(EngineSettings(repository=small_repo, models=("ghost",)))
    with pytest.raises(ModelNotFoundError, match="model 'ghost' is not in the repository"):
        await engine.start()
    await engine.stop()


async def test_stopped_engine_refuses_work_and_cannot_restart(small_repo: Path) -> None:
    engine = Engine(EngineSettings(repository=small_repo, models=("fake",), instances=1))
    await engine.start()
    await engine.stop()
    with pytest.raises(ShuttingDownError, match="the engine is stopped and takes no new requests"):
        await engine.infer("fake", {"x": np.zeros((1, 3), np.float32)})
    with pytest.raises(RuntimeError, match="Engine cannot start from state stopped"):
        await engine.start()


def test_settings_validate() -> None:
    with pytest.raises(ConfigError, match="instances is 0; it must be at least 1"):
        EngineSettings(instances=0)


async def test_default_model_classifies_real_photos(
    zoo_repository: Path, cat_jpeg: bytes, coffee_png: bytes
) -> None:
    settings = EngineSettings(repository=zoo_repository, instances=1)
    async with Engine(settings) as engine:
        cat, coffee = await engine.classify("efficientnet-lite0", [cat_jpeg, coffee_png], top=3)
    assert cat[0].index in CAT_CLASSES
    assert coffee[0].index == ESPRESSO
    assert coffee[0].label == "espresso"
    assert 0.5 < coffee[0].score <= 1.0
    assert len(cat) == 3


async def test_a_request_of_many_images_is_queued_as_an_entry_per_instance(
    zoo_repository: Path, cat_jpeg: bytes, coffee_png: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = EngineSettings(
        repository=zoo_repository, models=("efficientnet-lite0",), instances=2
    )
    async with Engine(settings) as engine:
        batcher = engine._registry.model("efficientnet-lite0").batcher
        entries: list[int] = []
        submit = batcher.submit

        def counted(inputs: Any, deadline: float) -> Any:
            entries.append(inputs.rows)
            return submit(inputs, deadline)

        monkeypatch.setattr(batcher, "submit", counted)
        answers = await engine.classify(
            "efficientnet-lite0", [cat_jpeg, coffee_png] * 3 + [cat_jpeg]
        )
        assert entries == [4, 3]  # two entries for two instances, not seven
        assert [a[0].index == ESPRESSO for a in answers] == [False, True] * 3 + [False]
        assert all(a[0].index in CAT_CLASSES for a in answers[::2])
        (stats,) = [statistics_v2(v) for v in engine.statistics("efficientnet-lite0")]
        assert stats["inference_stats"]["success"]["count"] == 1  # one request
        assert stats["inference_count"] == 7
        metrics = engine.render_metrics().body.decode()
        model = 'model="efficientnet-lite0"'
        assert f'tensorgate_requests_total{{{model},outcome="success"}} 1.0' in metrics
        assert f"tensorgate_decode_duration_seconds_count{{{model}}} 7.0" in metrics
        with pytest.raises(ImageError):  # a bad image fails its request ...
            await engine.classify("efficientnet-lite0", [cat_jpeg, b"\xff\xd8 broken", coffee_png])
        (coffee,) = await engine.classify("efficientnet-lite0", [coffee_png])  # ... alone
        assert coffee[0].index == ESPRESSO


async def test_a_runtime_that_crashes_on_load_leaves_the_others_serving(small_repo: Path) -> None:
    def crash(path: Path, options: object) -> FakeRuntime:
        raise OSError("disk on fire")

    settings = EngineSettings(repository=small_repo, models=("fake", "add_sub_fp32"), instances=1)
    async with Engine(settings, factories={"fake": crash, "onnxruntime": load_onnx}) as engine:
        states = {s.name: s for s in engine.statuses()}
        assert states["fake"].state is ModelState.UNAVAILABLE
        assert states["fake"].reason == "OSError: disk on fire"
        assert states["add_sub_fp32"].state is ModelState.READY
        a = np.ones((1, 16), np.float32)
        out = await engine.infer("add_sub_fp32", {"INPUT0": a, "INPUT1": a})
        np.testing.assert_array_equal(out["OUTPUT0"], a * 2)


async def test_image_requests_past_the_queue_bound_are_refused_before_decoding(
    tmp_path: Path, cat_jpeg: bytes
) -> None:
    from tests.test_registry import add_version

    config = {
        "backend": "fake",
        "max_batch_size": 1,
        "instance_group": {"count": 1},
        "dynamic_batching": {"max_queue_size": 2},
        "inputs": [{"name": "x", "datatype": "FP32", "dims": [3, 16, 16]}],
        "outputs": [{"name": "y", "datatype": "FP32", "dims": [3]}],
        "preprocess": {"resize": 16, "crop": 16},
        "postprocess": {"softmax": False, "top_k": 1},
    }
    add_version(tmp_path, "m", 1, config=config)
    running, release = asyncio.Event(), asyncio.Event()

    async def held(index: int, fn: Callable[[Any], Any], arg: Any) -> Any:
        running.set()
        await release.wait()  # the first image holds the only instance
        return fn(arg)

    settings = EngineSettings(repository=tmp_path, instances=1)
    async with Engine(settings, run_sync=held) as engine:
        first = asyncio.create_task(engine.classify("m", [cat_jpeg]))
        await running.wait()
        queued = asyncio.create_task(engine.classify("m", [cat_jpeg, cat_jpeg]))
        while engine._registry.model("m").batcher.queued_rows < 2:  # noqa: ASYNC110
            await asyncio.sleep(0)  # one loop turn at a time (no timer) until both queue
        with pytest.raises(QueueFullError, match=r"\(rows queued or decoding: 2 of 2\)"):
            # a corrupt image: refused before decoding, or this would be an ImageError
            await engine.classify("m", [b"\xff\xd8\xff\xe0 broken"])
        release.set()
        assert len(await first) == 1
        assert len(await queued) == 2
        assert engine._registry.model("m").decoding == 0
