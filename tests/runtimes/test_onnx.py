"""onnxruntime behind the Runtime protocol: signature, providers per device, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest

from tensorgate.errors import ConfigError, InferenceError
from tensorgate.runtimes import onnx as onnx_runtime
from tensorgate.runtimes.base import Runtime, RuntimeOptions
from tensorgate.runtimes.onnx import OnnxRuntime, auto_device, providers_for
from tensorgate.types import TensorSpec
from tests.helpers import add_sub_model, identity_model


def saved(tmp_path: Path, model: onnx.ModelProto) -> Path:
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    return path


def test_signature_and_inference(tmp_path: Path) -> None:
    runtime = OnnxRuntime(saved(tmp_path, add_sub_model("FP32", 4)), RuntimeOptions())
    assert isinstance(runtime, Runtime)
    assert runtime.inputs == (
        TensorSpec("INPUT0", "FP32", (4,)),
        TensorSpec("INPUT1", "FP32", (4,)),
    )
    assert runtime.providers == ["CPUExecutionProvider"]
    a = np.arange(8, dtype=np.float32).reshape(2, 4)
    out = runtime.infer({"INPUT0": a, "INPUT1": a})
    np.testing.assert_array_equal(out["OUTPUT0"], a * 2)
    np.testing.assert_array_equal(out["OUTPUT1"], a * 0)


def test_bytes_inputs_reach_onnxruntime_as_strings(tmp_path: Path) -> None:
    runtime = OnnxRuntime(saved(tmp_path, identity_model("BYTES", 2)), RuntimeOptions())
    words = np.array([[b"a", "\u00fc".encode()]], dtype=object)
    assert runtime.infer({"INPUT0": words})["OUTPUT0"].tolist() == [["a", "\u00fc"]]


def test_a_failing_run_is_an_inference_error(tmp_path: Path) -> None:
    runtime = OnnxRuntime(saved(tmp_path, add_sub_model("FP32", 4)), RuntimeOptions())
    bad = np.zeros((1, 4), np.float64)
    with pytest.raises(InferenceError, match="onnxruntime failed on a batch"):
        runtime.infer({"INPUT0": bad, "INPUT1": bad})


def test_a_file_that_is_not_onnx_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="onnxruntime cannot load this model"):
        OnnxRuntime(path, RuntimeOptions())


def test_providers_follow_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    available = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: available)
    monkeypatch.setattr(onnx_runtime, "tensorrt_loadable", lambda: True)
    assert providers_for("cpu") == ["CPUExecutionProvider"]
    chosen = providers_for("cuda:1")
    assert [p if isinstance(p, str) else p[0] for p in chosen] == available
    assert chosen[1] == (
        "CUDAExecutionProvider",
        {"device_id": 1, "cudnn_conv_algo_search": "HEURISTIC"},
    )
    monkeypatch.setenv("TENSORGATE_CUDNN_SEARCH", "EXHAUSTIVE")
    assert providers_for("cuda:0")[1] == (
        "CUDAExecutionProvider",
        {"device_id": 0, "cudnn_conv_algo_search": "EXHAUSTIVE"},
    )
    # Listed but not loadable (onnxruntime-gpu without TensorRT installed): left out.
    monkeypatch.setattr(onnx_runtime, "tensorrt_loadable", lambda: False)
    assert [p if isinstance(p, str) else p[0] for p in providers_for("cuda:0")] == available[1:]
    monkeypatch.setattr(onnx_runtime, "tensorrt_loadable", lambda: True)
    monkeypatch.setattr(onnx_runtime, "visible_gpus", lambda: [0])
    assert auto_device() == "cuda:0"
    monkeypatch.setattr(onnx_runtime, "visible_gpus", list)
    assert auto_device() == "cpu", "a CUDA build of onnxruntime on a machine without a GPU"
    monkeypatch.setenv("TENSORGATE_TENSORRT", "0")
    assert [p if isinstance(p, str) else p[0] for p in providers_for("cuda:0")] == available[1:]


def test_cuda_without_a_cuda_build_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert auto_device() == "cpu"
    with pytest.raises(ConfigError, match="install onnxruntime-gpu or use device: cpu"):
        providers_for("cuda:0")
