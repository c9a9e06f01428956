"""Device discovery and the choice behind ``device: auto``."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tensorgate import devices
from tensorgate.errors import ConfigError

CPUINFO = """processor\t: 0
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse2 avx2 fma avx512f avx512_vnni
"""


def test_visible_gpus_follow_cuda_visible_devices() -> None:
    assert devices.visible_gpus({}, found=0) == []
    assert devices.visible_gpus({}, found=2) == [0, 1]
    assert devices.visible_gpus({"CUDA_VISIBLE_DEVICES": "1"}, found=2) == [1]
    assert devices.visible_gpus({"CUDA_VISIBLE_DEVICES": "1,0"}, found=2) == [1, 0]
    assert devices.visible_gpus({"CUDA_VISIBLE_DEVICES": ""}, found=2) == []
    assert devices.visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}, found=2) == []
    # CUDA stops at the first index that does not exist.
    assert devices.visible_gpus({"CUDA_VISIBLE_DEVICES": "0,5,1"}, found=2) == [0]
    assert devices.visible_gpus({"CUDA_VISIBLE_DEVICES": "GPU-8f2e"}, found=2) == [0, 1]


def test_cpu_info_reads_the_model_and_the_features_that_matter() -> None:
    info = devices._cpu_info(CPUINFO)
    assert info.model == "AMD EPYC 9R14"
    assert info.flags == ("avx2", "fma", "avx512f", "avx512_vnni")
    assert info.cores == devices.cpu_count() >= 1


def test_discover_here_finds_the_cpu() -> None:
    found = devices.discover()
    assert found.cpu.cores >= 1
    assert "CPUExecutionProvider" in found.onnxruntime_providers
    assert found.torch is None, "torch is only imported when asked"
    assert len(found.gpus) == len(devices.visible_gpus())


def test_resolve_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "visible_gpus", lambda: [0])
    assert devices.resolve_device("cuda", "onnxruntime") == "cuda:0"
    assert devices.resolve_device("cpu", "pytorch") == "cpu"
    assert devices.resolve_device("auto", "fake") == "cpu"
    with pytest.raises(ConfigError, match=r"'cuda:3' does not exist: 1 GPU\(s\) are visible"):
        devices.resolve_device("cuda:3", "onnxruntime")


def test_a_listed_tensorrt_that_cannot_load_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime

    from tensorgate.cli import app
    from tensorgate.runtimes import onnx

    listed = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: listed)
    monkeypatch.setattr(onnx, "tensorrt_loadable", lambda: False)
    assert devices.discover().tensorrt is False
    result = CliRunner().invoke(app, ["devices", "--no-torch"])
    assert result.exit_code == 0, result.output
    assert "TensorrtExecutionProvider (TensorRT's libnvinfer.so.10 does not load: left out)" in (
        result.output
    )
