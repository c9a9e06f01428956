"""onnxruntime behind the Runtime protocol.

The execution provider follows the device, never the code: ``cpu`` uses the CPU provider;
``cuda:N`` uses TensorRT then CUDA where this onnxruntime build has them (CPU stays last
as onnxruntime's own fallback for unsupported nodes). ``auto`` picks ``cuda:0`` when a
CUDA provider is present, else ``cpu``.
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort

from tensorgate.errors import ConfigError, InferenceError
from tensorgate.nvml import visible_gpus
from tensorgate.runtimes.base import RuntimeOptions, Signature
from tensorgate.types import DeviceId, Tensors, TensorSpec

if TYPE_CHECKING:
    import torch

__all__ = ["OnnxRuntime", "auto_device", "load_onnx", "providers_for", "tensorrt_loadable"]

_ONNX_TO_V2 = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}


def auto_device() -> DeviceId:
    """``cuda:0`` when a GPU is visible and this onnxruntime build can use CUDA, else ``cpu``."""
    usable = "CUDAExecutionProvider" in ort.get_available_providers()
    return "cuda:0" if usable and visible_gpus() else "cpu"


@functools.cache
def tensorrt_loadable() -> bool:
    """Whether TensorRT's runtime library loads here. onnxruntime-gpu lists its TensorRT
    provider whether or not TensorRT is installed, then fails (and retries without it)
    at every session it is asked for in; asking only when it can load keeps that out."""
    try:
        ctypes.CDLL("libnvinfer.so.10")
    except OSError:
        return False
    return True


def providers_for(device: DeviceId) -> list[str | tuple[str, dict[str, Any]]]:
    """The execution providers, in order of preference, for a device slot.

    On ``cuda:N``: TensorRT when its library loads (``TENSORGATE_TENSORRT=0`` leaves it
    out), then CUDA with cuDNN's convolution algorithms chosen by heuristics
    (``TENSORGATE_CUDNN_SEARCH=EXHAUSTIVE`` benchmarks them instead: best kernels, but a
    pause of seconds at every new batch size, and dynamic batching makes many).
    """
    available = ort.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    index = int(device.partition(":")[2] or 0)
    chosen: list[str | tuple[str, dict[str, Any]]] = []
    if (
        "TensorrtExecutionProvider" in available
        and os.environ.get("TENSORGATE_TENSORRT", "1") != "0"
        and tensorrt_loadable()
    ):
        cache = Path(os.environ.get("TENSORGATE_HOME", Path.home() / ".cache" / "tensorgate"))
        chosen.append(
            (
                "TensorrtExecutionProvider",
                {
                    "device_id": index,
                    "trt_engine_cache_enable": True,
                    "trt_engine_cache_path": str(cache / "trt"),
                },
            )
        )
    if "CUDAExecutionProvider" in available:
        search = os.environ.get("TENSORGATE_CUDNN_SEARCH", "HEURISTIC")
        chosen.append(
            ("CUDAExecutionProvider", {"device_id": index, "cudnn_conv_algo_search": search})
        )
    if not chosen:
        raise ConfigError(
            f"device {device!r} was asked for, but this onnxruntime has no CUDA provider "
            f"(it has {', '.join(available)}); install onnxruntime-gpu or use device: cpu"
        )
    chosen.append("CPUExecutionProvider")
    return chosen


@functools.cache
def _numpy_of_torch() -> dict[Any, type[np.generic]]:
    """torch dtype → numpy type (imports torch: only device-bound batches call it)."""
    import torch

    return {
        torch.uint8: np.uint8,
        torch.int8: np.int8,
        torch.int32: np.int32,
        torch.int64: np.int64,
        torch.float16: np.float16,
        torch.float32: np.float32,
        torch.float64: np.float64,
        torch.bool: np.bool_,
    }


def _spec(arg: Any) -> TensorSpec:
    try:
        datatype = _ONNX_TO_V2[arg.type]
    except KeyError:
        raise ConfigError(
            f"ONNX tensor {arg.name!r} has type {arg.type}, which V2 cannot carry"
        ) from None
    dims = tuple(d if isinstance(d, int) and d > 0 else -1 for d in arg.shape[1:])
    return TensorSpec(arg.name, datatype, dims)


class OnnxRuntime(Signature):
    """One onnxruntime InferenceSession: one instance of a model on one device."""

    def __init__(self, path: Path, options: RuntimeOptions) -> None:
        so = ort.SessionOptions()
        so.intra_op_num_threads = options.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(path), sess_options=so, providers=providers_for(options.device)
            )
        except ConfigError:
            raise
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ConfigError(f"{path}: onnxruntime cannot load this model: {exc}") from None
        self._device = options.device
        self._metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        self._inputs = tuple(_spec(a) for a in self._session.get_inputs())
        self._outputs = tuple(_spec(a) for a in self._session.get_outputs())
        self._output_names = [o.name for o in self._outputs]
        self._string_inputs = {s.name for s in self._inputs if s.datatype == "BYTES"}

    @property
    def providers(self) -> list[str]:
        """The providers the session actually uses."""
        providers: list[str] = self._session.get_providers()
        return providers

    @property
    def replans_on_shape_change(self) -> bool:
        """Whether the session sets up again at every change of input shape (it does on
        the CUDA and TensorRT providers: cuDNN's convolutions are planned for the last
        shape seen; batching/buckets.py), so a padded model wants a session per size."""
        return any(p != "CPUExecutionProvider" for p in self.providers)

    def infer(self, inputs: Tensors) -> Tensors:
        feed: dict[str, Any] = dict(inputs)
        for name in self._string_inputs:
            # onnxruntime wants str elements; V2 BYTES arrive as bytes.
            feed[name] = np.vectorize(
                lambda v: v.decode("utf-8") if isinstance(v, bytes) else v, otypes=[object]
            )(feed[name])
        try:
            results = self._session.run(self._output_names, feed)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise InferenceError(f"onnxruntime failed on a batch: {exc}") from exc
        return dict(zip(self._output_names, results, strict=True))

    def infer_device(self, inputs: Mapping[str, torch.Tensor]) -> Tensors:
        """``infer`` on tensors already on this session's device, bound in place through
        onnxruntime's I/O binding (no copy to or from host memory on the way in); the
        outputs are copied to host memory once, at the end.

        The tensors are made on torch's current stream and onnxruntime runs on its own:
        that stream is synchronised first, so the model never reads a tensor being made.
        """
        import torch

        binding = self._session.io_binding()
        kept = []  # the contiguous tensors must live until the run returns
        for name, tensor in inputs.items():
            dense = tensor.contiguous()
            kept.append(dense)
            where = dense.device
            element = _numpy_of_torch().get(dense.dtype)
            if element is None:
                raise InferenceError(
                    f"input {name!r} is a device tensor of dtype {dense.dtype}, which "
                    "onnxruntime's I/O binding does not take here"
                )
            binding.bind_input(
                name,
                "cuda" if where.type == "cuda" else "cpu",
                where.index or 0,
                element,
                tuple(dense.shape),
                dense.data_ptr(),
            )
            if where.type == "cuda":
                torch.cuda.current_stream(where).synchronize()
        for name in self._output_names:
            binding.bind_output(name, "cpu")
        try:
            self._session.run_with_iobinding(binding)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise InferenceError(f"onnxruntime failed on a batch: {exc}") from exc
        results = binding.copy_outputs_to_cpu()
        del kept
        return dict(zip(self._output_names, results, strict=True))

    def close(self) -> None:
        # Sessions free their memory when the last reference goes; drop ours now.
        del self._session


def load_onnx(path: Path, options: RuntimeOptions) -> OnnxRuntime:
    """Factory for ``backend: onnxruntime`` models."""
    return OnnxRuntime(path, options)
