"""A batch made on the device: the same answers as the host path, one decode call per
batch, each bad image failing alone, and the tensors bound in place.

Off a GPU the device path runs for real on torch's CPU device with the real zoo model
in onnxruntime (bound through I/O binding to CPU memory) and libjpeg-turbo standing in
for nvJPEG; tests/engine/test_gpu_engine.py runs it on ``cuda:0`` where there is one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from tensorgate.batching.batcher import _infer_batch
from tensorgate.batching.deferred import Deferred, DeviceInputs
from tensorgate.batching.device import device_inputs_of, infer_on_device, make_on_device
from tensorgate.batching.tensors import shape_key, split, stack
from tensorgate.errors import ImageError, InferenceError
from tensorgate.imaging.geometry import ImageGeometry
from tensorgate.imaging.gpu import GpuImagePreprocessor
from tensorgate.imaging.spec import ImageLimits
from tensorgate.repository.manifest import load_config
from tensorgate.runtimes.base import RuntimeOptions
from tensorgate.runtimes.onnx import OnnxRuntime
from tests.imaging.test_accuracy import photo_jpeg

pytest.importorskip("torch")
import simplejpeg
import torch

LIMITS = ImageLimits()


class Decoders:
    """libjpeg-turbo at full resolution (as nvJPEG decodes), counting the calls."""

    def __init__(self, batch_fails: bool = False, refuse: bytes | None = None) -> None:
        self.batch_calls: list[int] = []
        self.single_calls = 0
        self.batch_fails = batch_fails
        self.refuse = refuse

    def one(self, data: bytes) -> torch.Tensor:
        self.single_calls += 1
        if data == self.refuse:
            raise RuntimeError("nvjpeg: unsupported JPEG")
        return torch.from_numpy(simplejpeg.decode_jpeg(data, colorspace="RGB"))

    def many(self, datas: Sequence[bytes]) -> list[torch.Tensor]:
        self.batch_calls.append(len(datas))
        if self.batch_fails or self.refuse in datas:
            raise RuntimeError("nvjpeg: batch decode failed")
        return [torch.from_numpy(simplejpeg.decode_jpeg(d, colorspace="RGB")) for d in datas]


@pytest.fixture(scope="module")
def lite0(lite0_dir: Path) -> tuple[OnnxRuntime, GpuImagePreprocessor, Decoders]:
    config = load_config(lite0_dir)
    assert config.preprocess is not None
    runtime = OnnxRuntime(lite0_dir / "1" / "model.onnx", RuntimeOptions())
    decoders = Decoders()
    spec = config.preprocess
    preprocessor = GpuImagePreprocessor(spec, LIMITS, "cpu", decoders.one, decoders.many)
    return runtime, preprocessor, decoders


def deferred(preprocessor: GpuImagePreprocessor, *datas: bytes) -> Deferred:
    """One queue entry of ``datas`` (a row each), as the engine queues them."""

    def make() -> tuple[dict[str, np.ndarray], object]:
        prepared = [preprocessor.prepare(data) for data in datas]
        return {"input": np.stack([p.tensor for p in prepared])}, [p.geometry for p in prepared]

    key = (("input", (3, 224, 224), np.dtype(np.float32).str),)
    device = DeviceInputs(preprocessor, "input")
    return Deferred(make, key, rows=len(datas), device=device, payloads=datas)


def photos() -> list[bytes]:
    return [
        photo_jpeg("chelsea", (640, 480)),
        photo_jpeg("coffee", (640, 480)),  # same size as the cat: one batched resize
        photo_jpeg("rocket", (500, 700)),
    ]


def test_a_device_batch_answers_what_the_host_path_answers(
    lite0: tuple[OnnxRuntime, GpuImagePreprocessor, Decoders], coffee_png: bytes
) -> None:
    runtime, preprocessor, decoders = lite0
    images = [*photos(), b"\xff\xd8\xff\xe0 not a jpeg", coffee_png]
    items = [deferred(preprocessor, data) for data in images]
    decoders.batch_calls.clear()

    parts, making, *_ = infer_on_device(runtime, items[0].device, items)  # type: ignore[arg-type]

    assert decoders.batch_calls == [3]  # the three JPEGs in one call; the PNG on the CPU
    assert making > 0
    assert isinstance(parts[3], ImageError)
    good = [0, 1, 2, 4]
    host = [deferred(preprocessor, images[i]).materialize() for i in good]
    expected = split(runtime.infer(stack(host)), [1] * len(host))
    for index, want in zip(good, expected, strict=True):
        part = parts[index]
        assert isinstance(part, dict)
        np.testing.assert_allclose(part["logits"], want["logits"], atol=1e-4)
        extras = items[index].extra
        assert isinstance(extras, list)
        assert isinstance(extras[0], ImageGeometry)
        assert len(extras) == 1
        assert items[index].ended > items[index].started > 0
    assert int(np.argmax(parts[0]["logits"])) in range(281, 286)  # type: ignore[index]


def test_an_entry_of_several_images_gets_their_rows_and_fails_with_its_bad_one(
    lite0: tuple[OnnxRuntime, GpuImagePreprocessor, Decoders],
) -> None:
    runtime, preprocessor, decoders = lite0
    cat, coffee, rocket = photos()
    bad = b"\xff\xd8\xff\xe0" + b"\x00" * 20
    items = [deferred(preprocessor, cat, coffee), deferred(preprocessor, rocket, bad, cat)]
    decoders.batch_calls.clear()
    (two, failed), *_ = infer_on_device(runtime, items[0].device, items)  # type: ignore[arg-type]
    assert decoders.batch_calls == [4]  # one call for the batch's JPEGs; the bad one refused
    assert isinstance(failed, ImageError)
    assert isinstance(two, dict)
    assert two["logits"].shape == (2, 1000)
    alone, *_ = infer_on_device(runtime, items[0].device, [deferred(preprocessor, coffee)])  # type: ignore[arg-type]
    np.testing.assert_allclose(two["logits"][1:], alone[0]["logits"], atol=1e-4)  # type: ignore[index]
    assert len(items[0].extra) == 2  # type: ignore[arg-type]
    assert items[1].ended - items[1].started > items[0].ended - items[0].started  # 3 rows' share


def test_a_failed_image_is_not_made_again_when_the_batch_is_retried(
    lite0: tuple[OnnxRuntime, GpuImagePreprocessor, Decoders],
) -> None:
    runtime, preprocessor, decoders = lite0
    bad = deferred(preprocessor, b"\xff\xd8\xff\xe0" + b"\x00" * 20)
    infer_on_device(runtime, bad.device, [bad])  # type: ignore[arg-type]
    assert isinstance(bad.error, ImageError)
    decoders.batch_calls.clear()
    (part,), *_ = infer_on_device(runtime, bad.device, [bad])  # type: ignore[arg-type]
    assert isinstance(part, ImageError)
    assert decoders.batch_calls == []


def test_a_failed_batch_decode_finds_the_refused_image_and_the_cpu_decodes_it(
    lite0_dir: Path,
) -> None:
    spec = load_config(lite0_dir).preprocess
    assert spec is not None
    cat, coffee, rocket = photos()
    decoders = Decoders(refuse=coffee)
    preprocessor = GpuImagePreprocessor(spec, LIMITS, "cpu", decoders.one, decoders.many)
    made = preprocessor.prepare_many([cat, coffee, rocket])
    assert decoders.batch_calls == [3]
    assert decoders.single_calls == 3  # then one by one, to find the refused one
    for data, result in zip((cat, coffee, rocket), made, strict=True):
        assert not isinstance(result, Exception)
        tensor, _ = result
        np.testing.assert_allclose(tensor.numpy(), preprocessor.prepare(data).tensor, atol=1.0)


def test_batched_preprocessing_equals_one_image_at_a_time(lite0_dir: Path) -> None:
    spec = load_config(lite0_dir).preprocess
    assert spec is not None
    decoders = Decoders()
    preprocessor = GpuImagePreprocessor(spec, LIMITS, "cpu", decoders.one, decoders.many)
    pixels = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (3, 300, 400, 3), "u1"))
    for orientation in (1, 3, 6, 8):
        batch = preprocessor.preprocess_batch(pixels, orientation)
        for row in range(3):
            one = preprocessor.preprocess(pixels[row], orientation)
            torch.testing.assert_close(batch[row], one, atol=1e-5, rtol=0)


def test_only_a_whole_batch_of_one_maker_on_a_device_runtime_stays_on_the_device(
    lite0: tuple[OnnxRuntime, GpuImagePreprocessor, Decoders],
) -> None:
    runtime, preprocessor, _ = lite0
    cat, coffee, _ = photos()
    a, b = deferred(preprocessor, cat), deferred(preprocessor, coffee)
    assert device_inputs_of(runtime, [a, b]) == a.device
    host = {"input": np.zeros((1, 3, 224, 224), np.float32)}
    assert device_inputs_of(runtime, [a, host]) is None
    other = GpuImagePreprocessor(preprocessor.spec, LIMITS, "cpu", Decoders().one)
    c = deferred(other, coffee)
    assert device_inputs_of(runtime, [a, c]) is None

    class HostOnly:
        def __init__(self, inner: OnnxRuntime) -> None:
            self.inputs, self.outputs, self.device = inner.inputs, inner.outputs, "cpu"
            self.infer, self.close = inner.infer, inner.close

    assert device_inputs_of(HostOnly(runtime), [a, b]) is None
    # The batcher's step takes either path and gives the same logits.
    mixed, *_ = _infer_batch(runtime, [1, 1], [deferred(preprocessor, cat), host])
    whole, *_ = _infer_batch(runtime, [1, 1], [deferred(preprocessor, cat), b])
    np.testing.assert_allclose(mixed[0]["logits"], whole[0]["logits"], atol=1e-4)  # type: ignore[index]


def test_io_binding_takes_device_tensors_in_place(
    lite0: tuple[OnnxRuntime, GpuImagePreprocessor, Decoders],
) -> None:
    runtime, _, _ = lite0
    pixels = np.random.default_rng(1).standard_normal((2, 3, 224, 224)).astype(np.float32)
    bound = runtime.infer_device({"input": torch.from_numpy(pixels)})
    np.testing.assert_allclose(bound["logits"], runtime.infer({"input": pixels})["logits"])
    # A strided view is bound as the dense tensor it stands for.
    view = torch.from_numpy(np.ascontiguousarray(pixels.transpose(0, 2, 1, 3))).transpose(1, 2)
    np.testing.assert_allclose(runtime.infer_device({"input": view})["logits"], bound["logits"])
    with pytest.raises(InferenceError, match="complex64"):
        runtime.infer_device({"input": torch.zeros((1, 3, 224, 224), dtype=torch.complex64)})
    assert shape_key({"input": pixels}) == (("input", (3, 224, 224), "<f4"),)


def test_a_batch_made_ahead_runs_as_one_made_in_the_run(
    lite0: tuple[OnnxRuntime, GpuImagePreprocessor, Decoders],
) -> None:
    """What a GPU instance does before its gate (make_on_device) and under it (the
    model on what was made): the answers of making and running in one call."""
    runtime, preprocessor, decoders = lite0
    images = [*photos(), b"\xff\xd8\xff\xe0 not a jpeg"]
    together = [deferred(preprocessor, data) for data in images]
    ahead = [deferred(preprocessor, data) for data in images]
    decoders.batch_calls.clear()
    parts, making, *_ = infer_on_device(runtime, together[0].device, together)  # type: ignore[arg-type]
    made = make_on_device(ahead[0].device, ahead)  # type: ignore[arg-type]
    assert made.where == [0, 1, 2]
    assert made.rows == [1, 1, 1]
    assert made.making > 0
    assert isinstance(ahead[3].error, ImageError)  # known before the gate, kept for later
    ahead_parts, ahead_making, *_ = _infer_batch(runtime, [1] * len(images), ahead, made)
    assert decoders.batch_calls == [3, 3]  # one call each way (the broken one refused first)
    assert making > 0
    assert ahead_making == 0.0  # made before the batch's run: not in its time
    assert isinstance(ahead_parts[3], ImageError)
    for want, got in zip(parts[:3], ahead_parts[:3], strict=True):
        assert isinstance(want, dict)
        assert isinstance(got, dict)
        np.testing.assert_allclose(got["logits"], want["logits"], atol=1e-5)
