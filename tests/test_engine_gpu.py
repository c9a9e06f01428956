"""The engine's device path: JPEGs decoded in batches, bound to the model where they
lie, the same answers as the CPU engine. On a real GPU (nvJPEG, onnxruntime's CUDA
provider; skipped without a CUDA device, a GPU JPEG decoder and onnxruntime-gpu —
scripts/device/run.sh runs it on a lent GPU machine), and everywhere with the GPU
preprocessor on torch's CPU device and libjpeg-turbo standing in for nvJPEG.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import onnxruntime as ort
import pytest

from tensorgate import Engine, EngineSettings
from tensorgate.batching import batcher, device
from tensorgate.errors import ImageError
from tensorgate.imaging.gpu import GpuImagePreprocessor, gpu_decoder
from tests.conftest import CAT_CLASSES, ESPRESSO
from tests.imaging.test_accuracy import photo_jpeg


def needs_a_gpu() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available() or gpu_decoder() is None:
        pytest.skip("needs a CUDA device and torchvision or nvImageCodec")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("needs onnxruntime-gpu")


@pytest.mark.gpu
async def test_nvjpeg_batches_stay_on_the_gpu_and_answer_as_the_cpu_does(
    zoo_repository: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    needs_a_gpu()
    on_device: list[int] = []
    original = device.infer_on_device

    def counted(*args: Any) -> Any:
        on_device.append(sum(item.rows for item in args[2]))  # images
        return original(*args)

    monkeypatch.setattr(batcher, "infer_on_device", counted)
    images = [photo_jpeg("chelsea", (1500, 1000)), photo_jpeg("coffee", (640, 480))] * 4
    images.append(b"\xff\xd8\xff\xe0" + b"\x00" * 20)  # a corrupt JPEG among them
    answers = {}
    for where in ("cpu", "cuda:0"):
        settings = EngineSettings(
            repository=zoo_repository,
            models=("efficientnet-lite0",),
            device=where,
            instances=1,
            max_batch_size=16,
        )
        async with Engine(settings) as engine:
            model = engine._registry.model("efficientnet-lite0")
            assert isinstance(model.preprocess, GpuImagePreprocessor) == (where != "cpu")
            if where != "cpu":
                assert "CUDAExecutionProvider" in model.runtimes[0].providers  # type: ignore[attr-defined]
            good, bad = await asyncio.gather(
                engine.classify("efficientnet-lite0", images[:-1]),
                engine.classify("efficientnet-lite0", images[-1:]),
                return_exceptions=True,
            )
            assert isinstance(bad, ImageError), bad
            assert isinstance(good, list), good
            answers[where] = good
    assert on_device
    assert sum(on_device) >= len(images) - 1
    for cpu, gpu in zip(answers["cpu"], answers["cuda:0"], strict=True):
        assert gpu[0].index == cpu[0].index
        assert abs(gpu[0].score - cpu[0].score) < 0.03
    assert answers["cuda:0"][0][0].index in CAT_CLASSES
    assert answers["cuda:0"][1][0].index == ESPRESSO


async def test_the_engine_queues_a_gpu_preprocessors_images_for_device_batches(
    zoo_repository: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch = pytest.importorskip("torch")
    import simplejpeg

    from tensorgate import engine as engine_module

    decoded: list[int] = []

    def many(datas: Sequence[bytes]) -> list[Any]:
        decoded.append(len(datas))
        return [torch.from_numpy(simplejpeg.decode_jpeg(d, colorspace="RGB")) for d in datas]

    def on_cpu(spec: Any, limits: Any, device: str, **_: Any) -> GpuImagePreprocessor:
        return GpuImagePreprocessor(spec, limits, "cpu", lambda d: many([d])[0], many)

    on_device: list[int] = []
    original = device.infer_on_device

    def counted(*args: Any) -> Any:
        on_device.append(sum(item.rows for item in args[2]))  # images
        return original(*args)

    images = [photo_jpeg("chelsea", (640, 480)), photo_jpeg("coffee", (640, 480))] * 2
    settings = EngineSettings(
        repository=zoo_repository, models=("efficientnet-lite0",), instances=1
    )
    async with Engine(settings) as engine:
        expected = await engine.classify("efficientnet-lite0", images)
    monkeypatch.setattr(engine_module, "choose_preprocessor", on_cpu)
    monkeypatch.setattr(batcher, "infer_on_device", counted)
    async with Engine(settings) as engine:
        good, bad = await asyncio.gather(
            engine.classify("efficientnet-lite0", images),
            engine.classify("efficientnet-lite0", [b"\xff\xd8\xff\xe0" + b"\x00" * 20]),
            return_exceptions=True,
        )
    assert isinstance(bad, ImageError), bad
    assert isinstance(good, list), good
    assert sum(on_device) == len(images) + 1  # every image went down the device path
    assert sum(decoded) == len(images)  # the corrupt one was refused from its header
    for want, got in zip(expected, good, strict=True):
        assert got[0].index == want[0].index
        assert abs(got[0].score - want[0].score) < 0.03
    assert got[0].index == ESPRESSO
