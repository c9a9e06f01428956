"""Pipelines through the engine, with deterministic fake models: crops of many requests
share the second step's batches, a failing step fails only its own request, unloading a
model a pipeline runs turns the pipeline UNAVAILABLE, and a pipeline that does not fit
is refused at load."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image

from tensorgate.config import EngineSettings
from tensorgate.engine import Engine
from tensorgate.errors import InvalidInputError, ModelLoadError, ModelNotAvailableError
from tensorgate.runtimes.base import RuntimeOptions
from tensorgate.runtimes.fake import FakeRuntime
from tensorgate.tasks.results import Classes, Detections
from tensorgate.types import Tensors
from tensorgate.views import ModelState
from tests.helpers import write_model

#: The fake detector finds these four boxes (model pixels, 64 × 64 input) in any image.
BOXES = [(8, 8, 24, 24), (40, 8, 56, 24), (8, 40, 24, 56), (40, 40, 56, 56)]
#: A crop this bright makes the fake classifier fail (a step that breaks on one input).
FAIL_ABOVE = 200.0


def detector(inputs: Tensors) -> Tensors:
    rows = next(iter(inputs.values())).shape[0]
    out = np.zeros((rows, 5, 8), dtype=np.float32)
    for j, (left, top, right, bottom) in enumerate(BOXES):
        out[:, :4, j] = [(left + right) / 2, (top + bottom) / 2, right - left, bottom - top]
        out[:, 4, j] = 0.9
    return {"output0": out}


def classifier(inputs: Tensors) -> Tensors:
    crops = next(iter(inputs.values()))
    means = crops.reshape(crops.shape[0], -1).mean(axis=1)
    if (means > FAIL_ABOVE).any():
        raise RuntimeError(f"crop mean {means.max():.0f} is too bright for this model")
    logits = np.stack([means, 255 - means, np.zeros_like(means)], axis=1)
    return {"logits": logits.astype(np.float32)}


def factory(path: Path, options: RuntimeOptions) -> FakeRuntime:
    fn = detector if path.parent.parent.name == "boxes" else classifier
    return FakeRuntime(options.inputs, options.outputs, fn)


def write_pipeline(repo: Path, name: str, steps: list[dict[str, Any]]) -> None:
    (repo / name).mkdir(parents=True, exist_ok=True)
    (repo / name / "config.yaml").write_text(yaml.safe_dump({"name": name, "pipeline": steps}))


STEPS: list[dict[str, Any]] = [
    {"name": "found", "model": "boxes"},
    {"name": "items", "crop": {"max_crops": 10}},
    {"name": "kind", "model": "shade"},
]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    write_model(
        repo,
        "boxes",
        None,
        {
            "backend": "fake",
            "task": "detect",
            "max_batch_size": 8,
            "instance_group": {"count": 1},
            "inputs": [{"name": "images", "datatype": "FP32", "dims": [3, 64, 64]}],
            "outputs": [{"name": "output0", "datatype": "FP32", "dims": [5, 8]}],
            "preprocess": {"mode": "letterbox", "resize": [64, 64], "crop": None},
            "postprocess": {"decoder": "yolov8"},
        },
    )
    write_model(
        repo,
        "shade",
        None,
        {
            "backend": "fake",
            "max_batch_size": 64,
            "dynamic_batching": {"max_queue_delay_ms": 30},
            "instance_group": {"count": 1},
            "inputs": [{"name": "input", "datatype": "FP32", "dims": [3, 16, 16]}],
            "outputs": [{"name": "logits", "datatype": "FP32", "dims": [3]}],
            "preprocess": {"mode": "exact", "resize": [16, 16], "crop": None},
            "postprocess": {"softmax": False, "top_k": 1},
        },
    )
    write_pipeline(repo, "sorter", STEPS)
    return repo


def png(shade: int, size: int = 128) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (shade, shade, shade)).save(buffer, "PNG")
    return buffer.getvalue()


def engine(repo: Path) -> Engine:
    return Engine(EngineSettings(repository=repo, instances=1), factories={"fake": factory})


async def test_each_detection_carries_its_crops_answer(repo: Path) -> None:
    async with engine(repo) as running:
        result = await running.run_images("sorter", [png(40)], task="detect")
    assert result.task == "detect"
    assert result.key.name == "sorter"
    (found,) = result.answers
    assert isinstance(found, Detections)
    assert len(found.items) == 4
    boxes = sorted(tuple(round(v) for v in d.box) for d in found.items)
    assert boxes == sorted(tuple(v * 2 for v in b) for b in BOXES)  # 128 px image, 64 px model
    for item in found.items:
        kind = item.parts["kind"]
        assert isinstance(kind, Classes)
        assert kind.classes[0].index == 1  # a dark crop: 255 - mean wins


async def test_crops_of_many_requests_share_the_second_steps_batches(repo: Path) -> None:
    async with engine(repo) as running:
        await asyncio.gather(*(running.run_images("sorter", [png(40)]) for _ in range(8)))
        (shade,) = running.statistics("shade")
        (statistics,) = [s for s in running.statistics("sorter") if s.key.name == "shade"]
    batches = shade.counters.batches
    crops = sum(rows * d.count for rows, d in batches.items())
    mean = crops / sum(d.count for d in batches.values())
    assert crops == 8 * len(BOXES)
    assert mean > len(BOXES), batches  # crops of several requests in one batch
    assert statistics.counters.inference_count == crops


async def test_a_failing_step_fails_only_its_own_request(repo: Path) -> None:
    async with engine(repo) as running:
        answers = await asyncio.gather(
            *(running.run_images("sorter", [png(shade)]) for shade in (40, 250, 40, 40)),
            return_exceptions=True,
        )
    failed = [a for a in answers if isinstance(a, Exception)]
    assert len(failed) == 1
    assert "too bright" in str(failed[0])
    assert answers[1] is failed[0]
    assert all(not isinstance(a, Exception) for i, a in enumerate(answers) if i != 1)


async def test_unloading_a_step_model_makes_the_pipeline_unavailable(repo: Path) -> None:
    async with engine(repo) as running:
        await running.unload_model("shade")
        (status,) = [s for s in running.statuses() if s.name == "sorter"]
        assert status.state is ModelState.UNAVAILABLE
        assert "step 'kind'" in status.reason
        assert [(s.name, s.state) for s in status.steps] == [
            ("found", ModelState.READY),
            ("items", ModelState.READY),
            ("kind", ModelState.UNAVAILABLE),
        ]
        with pytest.raises(ModelNotAvailableError, match="pipeline 'sorter' step 'kind'"):
            await running.run_images("sorter", [png(40)])
        await running.load_model("sorter")  # loads the models its steps run
        assert running.pipeline("sorter").ready
        await running.run_images("sorter", [png(40)])
        await running.unload_model("sorter")
        assert not running.pipeline("sorter").ready
        with pytest.raises(ModelNotAvailableError, match="unloaded"):
            await running.run_images("sorter", [png(40)])
        await running.run_images("shade", [png(40)])  # its models keep serving


async def test_a_pipeline_is_not_a_tensor_model_nor_another_task(repo: Path) -> None:
    async with engine(repo) as running:
        with pytest.raises(InvalidInputError, match="/v2/models/sorter/detect"):
            await running.infer("sorter", {"images": np.zeros((1, 3, 64, 64), np.float32)})
        with pytest.raises(InvalidInputError, match="answers detect, not classify"):
            await running.classify("sorter", [png(40)])


async def test_a_pipeline_that_does_not_fit_is_refused_at_load(repo: Path) -> None:
    write_pipeline(repo, "wrong", [STEPS[0], STEPS[1], {"name": "kind", "model": "nowhere"}])
    async with engine(repo) as running:
        status = next(s for s in running.statuses() if s.name == "wrong")
        assert status.state is ModelState.UNAVAILABLE
        assert "wrong/config.yaml: step 'kind' names model 'nowhere'" in status.reason
        assert not running.ready
        with pytest.raises(ModelLoadError, match="'nowhere'"):
            await running.load_model("wrong")
        assert running.pipeline("sorter").ready  # the others serve


async def test_naming_a_pipeline_in_settings_loads_its_models(repo: Path) -> None:
    settings = EngineSettings(repository=repo, instances=1, models=("sorter",))
    async with Engine(settings, factories={"fake": factory}) as running:
        assert {s.name for s in running.statuses()} == {"sorter", "boxes", "shade"}
        assert running.ready


async def test_a_traced_pipeline_request_has_a_span_per_step_and_per_crop_batch(
    repo: Path,
) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from tensorgate.tracing import configure_tracing, disable_tracing, traced_request

    exporter = InMemorySpanExporter()
    configure_tracing(exporter)
    try:
        async with engine(repo) as running:
            with traced_request("pipeline", {}, {}):
                await running.run_images("sorter", [png(40)], task="detect")
    finally:
        disable_tracing()
    names = [span.name for span in exporter.get_finished_spans()]
    assert names.count("step found") == 1
    assert names.count("crop") == 1
    assert names.count("step kind") == 1
    # The 4 crops ran together: one queue span and one batch span per batch, not per crop
    # (the detector's batch is the other one).
    assert names.count("batch") == names.count("queue") == 2
    assert names.count("pipeline") == 1
