"""The PyTorch runtime: TorchScript and torch.export archives, alone and behind the Engine."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("torch")
import torch

from tensorgate import Engine, EngineSettings
from tensorgate.devices import resolve_device
from tensorgate.errors import ConfigError
from tensorgate.protocol.models import statistics_v2
from tensorgate.runtimes.base import RuntimeOptions
from tensorgate.runtimes.pytorch import TorchRuntime, load_torch
from tensorgate.types import TensorSpec
from tests.torch_models import build_net, eager, save_program, save_torchscript

X = np.random.default_rng(0).standard_normal((5, 3, 16, 16)).astype(np.float32)
IN = (TensorSpec("image", "FP32", (3, 16, 16)),)
OUT = (TensorSpec("logits", "FP32", (10,)),)


def test_an_exported_program_brings_its_own_signature(tmp_path: Path) -> None:
    net = build_net()
    runtime = load_torch(save_program(net, tmp_path / "m.pt2"), RuntimeOptions(max_batch_size=8))
    assert runtime.inputs == (TensorSpec("x", "FP32", (3, 16, 16)),)
    assert runtime.outputs == (TensorSpec("output__0", "FP32", (10,)),)
    got = runtime.infer({"x": X})["output__0"]
    np.testing.assert_allclose(got, eager(net, X), rtol=1e-5, atol=1e-6)


def test_torchscript_runs_with_the_declared_signature(tmp_path: Path) -> None:
    net = build_net()
    path = save_torchscript(net, tmp_path / "m.pt")
    runtime = load_torch(path, RuntimeOptions(inputs=IN, outputs=OUT))
    got = runtime.infer({"image": X[:3]})["logits"]
    np.testing.assert_allclose(got, eager(net, X[:3]), rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match=r"needs 'inputs' and 'outputs' in its config\.yaml"):
        load_torch(path, RuntimeOptions())


def test_infer_runs_under_inference_mode(tmp_path: Path) -> None:
    seen: list[bool] = []

    class Probe(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(torch.is_inference_mode_enabled())
            return x * 2

    runtime = load_torch(
        save_torchscript(build_net(), tmp_path / "m.pt"), RuntimeOptions(inputs=IN, outputs=OUT)
    )
    runtime._module = Probe()  # the same call path, observed
    runtime.infer({"image": X[:1]})
    assert seen == [True]


def test_bad_archives_and_devices_are_config_errors(tmp_path: Path) -> None:
    fixed = save_program(build_net(), tmp_path / "fixed.pt2", dynamic=False)
    with pytest.raises(ConfigError, match="exported with a fixed batch of 2, but max_batch_size"):
        load_torch(fixed, RuntimeOptions(max_batch_size=8))
    junk = tmp_path / "junk.pt2"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match=r"torch cannot load this as an ExportedProgram"):
        load_torch(junk, RuntimeOptions())
    junk_ts = tmp_path / "junk.pt"
    junk_ts.write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="torch cannot load this as a TorchScript archive"):
        load_torch(junk_ts, RuntimeOptions(inputs=IN, outputs=OUT))
    declared = (TensorSpec("x", "INT64", (3, 16, 16)),)
    with pytest.raises(ConfigError, match="declared INT64 but the program takes FP32"):
        load_torch(tmp_path / "fixed.pt2", RuntimeOptions(inputs=declared, max_batch_size=2))
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="this torch sees no CUDA device"):
            TorchRuntime(fixed, RuntimeOptions(device="cuda:0"))
        assert resolve_device("auto", "pytorch") == "cpu"


def _repository(tmp_path: Path) -> Path:
    net = build_net()
    for name, filename, save in (
        ("scripted", "model.pt", save_torchscript),
        ("exported", "model.pt2", save_program),
    ):
        (tmp_path / name / "1").mkdir(parents=True)
        save(net, tmp_path / name / "1" / filename)
        config = {
            "name": name,
            "backend": "pytorch",
            "max_batch_size": 8,
            "default_model_filename": filename,
            "dynamic_batching": {"max_queue_delay_ms": 20},
            "instance_group": {"count": 1, "device": "auto"},
            "inputs": [{"name": "image", "datatype": "FP32", "dims": [3, 16, 16]}],
            "outputs": [{"name": "logits", "datatype": "FP32", "dims": [10]}],
        }
        (tmp_path / name / "config.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


async def test_the_engine_batches_torch_models_like_onnx_ones(tmp_path: Path) -> None:
    repo = _repository(tmp_path)
    want = eager(build_net(), X)
    async with Engine(EngineSettings(repository=repo)) as engine:
        for name in ("scripted", "exported"):
            rows = await asyncio.gather(
                *(engine.infer(name, {"image": X[i : i + 1]}) for i in range(len(X)))
            )
            got = np.concatenate([r["logits"] for r in rows])
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
            (stats,) = [statistics_v2(v) for v in engine.statistics(name)]
            assert stats["inference_count"] == len(X)
            assert stats["execution_count"] < len(X), "single rows were batched together"
        model = engine.model("exported")
        assert model.platform == "pytorch_libtorch"
        assert model.device == "cpu"


@pytest.mark.gpu
def test_torch_on_cuda_matches_cpu(tmp_path: Path) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    net = build_net()
    path = save_program(net, tmp_path / "m.pt2")
    cpu = load_torch(path, RuntimeOptions(max_batch_size=8)).infer({"x": X})["output__0"]
    gpu_runtime = load_torch(path, RuntimeOptions(device="cuda:0", max_batch_size=8))
    np.testing.assert_allclose(gpu_runtime.infer({"x": X})["output__0"], cpu, atol=1e-3)
