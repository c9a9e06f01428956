"""PyTorch behind the Runtime protocol: TorchScript (``.pt``) and ``torch.export`` (``.pt2``).

Imported only when a ``backend: pytorch`` model loads, so serving ONNX never imports
torch. The archive's suffix says which loader reads it: ``.pt2`` is an ExportedProgram
(``torch.export.save``), anything else a TorchScript archive (``torch.jit.save``).
Neither unpickles arbitrary Python objects. Every batch runs under
``torch.inference_mode``; numpy arrays enter without a copy on CPU.

TorchScript archives carry no tensor signature, so their ``inputs`` and ``outputs`` must be
declared in config.yaml (as Triton's PyTorch backend requires). An ExportedProgram
carries its input dtypes and shapes; its outputs are named from config.yaml when
declared, else ``output__0``, ``output__1``, … (Triton's convention).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from tensorgate.errors import ConfigError, InferenceError
from tensorgate.runtimes.base import RuntimeOptions, Signature
from tensorgate.types import DeviceId, Tensors, TensorSpec

__all__ = [
    "TorchRuntime",
    "auto_device",
    "datatype_of_torch",
    "load_torch",
    "load_torchscript",
    "output_tensors",
]

_TORCH_TO_V2: dict[torch.dtype, str] = {
    torch.bool: "BOOL",
    torch.uint8: "UINT8",
    torch.int8: "INT8",
    torch.int16: "INT16",
    torch.int32: "INT32",
    torch.int64: "INT64",
    torch.float16: "FP16",
    torch.float32: "FP32",
    torch.float64: "FP64",
}
_threads_lock = threading.Lock()


def auto_device() -> DeviceId:
    """``cuda:0`` when this torch build sees a CUDA device, else ``cpu``."""
    return "cuda:0" if torch.cuda.is_available() else "cpu"


def datatype_of_torch(dtype: torch.dtype, where: str) -> str:
    """The V2 datatype of a torch dtype; ConfigError for those V2 cannot carry."""
    try:
        return _TORCH_TO_V2[dtype]
    except KeyError:
        raise ConfigError(
            f"{where} has dtype {dtype}, which V2 cannot carry; cast it to one of "
            "float32, float16, float64, int8–int64, uint8 or bool in the model"
        ) from None


def _torch_device(device: DeviceId, path: Path) -> torch.device:
    if device == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(
            f"{path}: device {device!r} was asked for, but this torch sees no CUDA device "
            f"(torch {torch.__version__}); install a CUDA build of torch or use device: cpu"
        )
    index = int(device.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise ConfigError(
            f"{path}: device {device!r} does not exist; this machine has "
            f"{torch.cuda.device_count()} CUDA device(s): cuda:0 … "
            f"cuda:{torch.cuda.device_count() - 1}"
        )
    return torch.device("cuda", index)


def _exported_inputs(program: Any, path: Path) -> tuple[tuple[str, ...], list[Any]]:
    """Names and example values (fake tensors) of an ExportedProgram's user inputs."""
    names = tuple(program.graph_signature.user_inputs)
    values: dict[str, Any] = {
        node.name: node.meta.get("val")
        for node in program.graph.nodes
        if node.op == "placeholder" and node.name in names
    }
    missing = [n for n in names if not isinstance(values.get(n), torch.Tensor)]
    if missing:
        raise ConfigError(
            f"{path}: exported input {missing[0]!r} is not a tensor; tensorgate serves "
            "programs whose inputs are all tensors"
        )
    return names, [values[n] for n in names]


def _exported_outputs(program: Any, path: Path) -> list[Any]:
    """Example values (fake tensors) of an ExportedProgram's user outputs, in order."""
    user = set(program.graph_signature.user_outputs)
    node = next(n for n in program.graph.nodes if n.op == "output")
    values = [v.meta.get("val") for v in node.args[0] if getattr(v, "name", None) in user]
    if not values or not all(isinstance(v, torch.Tensor) for v in values):
        raise ConfigError(
            f"{path}: the program's outputs are not all tensors; tensorgate serves programs "
            "that return a tensor or a tuple of tensors"
        )
    return values


class TorchRuntime(Signature):
    """One loaded TorchScript module or ExportedProgram on one device."""

    def __init__(self, path: Path, options: RuntimeOptions) -> None:
        self._device = options.device
        self._torch_device = _torch_device(options.device, path)
        with _threads_lock:
            # torch's intra-op pool is process-wide: instances are single-threaded by
            # default, as with onnxruntime, and scale by count instead.
            if torch.get_num_threads() != options.threads:
                torch.set_num_threads(options.threads)
        try:
            if path.suffix == ".pt2":
                self._module, found = self._load_exported(path, options)
            else:
                self._module = load_torchscript(path, self._torch_device)
                found = ((), ())
        except ConfigError:
            raise
        except Exception as exc:  # torch raises many untyped errors for bad archives
            kind = "an ExportedProgram (.pt2)" if path.suffix == ".pt2" else "a TorchScript archive"
            raise ConfigError(f"{path}: torch cannot load this as {kind}: {exc}") from None
        if path.suffix != ".pt2" and (not options.inputs or not options.outputs):
            raise ConfigError(
                f"{path}: a TorchScript model needs 'inputs' and 'outputs' in its config.yaml "
                "(the archive carries no tensor signature)"
            )
        found_inputs, found_outputs = found
        self._inputs = options.inputs or found_inputs
        if path.suffix == ".pt2" and options.inputs:
            self._check_exported(path, options.inputs, found_inputs)
        self._outputs = options.outputs or found_outputs
        self._input_names = tuple(s.name for s in self._inputs)

    def _load_exported(
        self, path: Path, options: RuntimeOptions
    ) -> tuple[Any, tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]]:
        with warnings.catch_warnings():
            # torch 2.11 reads the archive's weights through a read-only buffer and warns
            # about it (once per process); the tensors are copied, nothing writes to them.
            warnings.filterwarnings("ignore", message="The given buffer is not writable")
            program = torch.export.load(str(path))
        if self._torch_device.type != "cpu":
            from torch.export.passes import move_to_device_pass

            program = move_to_device_pass(program, self._torch_device)
        names, examples = _exported_inputs(program, path)
        specs: list[TensorSpec] = []
        for name, example in zip(names, examples, strict=True):
            shape = _dims(example.shape)
            if not shape:
                raise ConfigError(
                    f"{path}: exported input {name!r} is a scalar; it needs a batch axis"
                )
            if shape[0] != -1 and options.max_batch_size > shape[0]:
                raise ConfigError(
                    f"{path}: input {name!r} was exported with a fixed batch of {shape[0]}, "
                    f"but max_batch_size is {options.max_batch_size}; export with "
                    f"dynamic_shapes={{{name!r}: {{0: torch.export.Dim('batch')}}}} "
                    f"or set max_batch_size: {shape[0]}"
                )
            datatype = datatype_of_torch(example.dtype, f"{path}: exported input {name!r}")
            specs.append(TensorSpec(name, datatype, shape[1:]))
        outputs = tuple(
            TensorSpec(
                f"output__{i}",
                datatype_of_torch(value.dtype, f"{path}: exported output {i}"),
                _dims(value.shape[1:]),
            )
            for i, value in enumerate(_exported_outputs(program, path))
        )
        return program.module(), (tuple(specs), outputs)

    @staticmethod
    def _check_exported(
        path: Path, declared: tuple[TensorSpec, ...], found: tuple[TensorSpec, ...]
    ) -> None:
        if len(declared) != len(found):
            raise ConfigError(
                f"{path}: config.yaml declares {len(declared)} input(s) but the program "
                f"takes {len(found)}: {', '.join(s.name for s in found)}"
            )
        for want, have in zip(declared, found, strict=True):
            if want.datatype != have.datatype:
                raise ConfigError(
                    f"{path}: input {want.name!r} is declared {want.datatype} but the program "
                    f"takes {have.datatype}"
                )

    def infer(self, inputs: Tensors) -> Tensors:
        device = self._torch_device
        on_gpu = device.type == "cuda"
        return self._run(
            lambda: [
                torch.from_numpy(np.ascontiguousarray(inputs[name])).to(device, non_blocking=on_gpu)
                for name in self._input_names
            ]
        )

    def infer_device(self, inputs: Mapping[str, torch.Tensor]) -> Tensors:
        """``infer`` on tensors already on this module's device (no host copy in)."""
        return self._run(
            lambda: [inputs[name].to(self._torch_device) for name in self._input_names]
        )

    def _run(self, arguments: Callable[[], list[torch.Tensor]]) -> Tensors:
        """The module on ``arguments()`` in inference mode, its outputs in host memory;
        torch's own errors become InferenceError."""
        try:
            with torch.inference_mode():
                result = self._module(*arguments())
                values = output_tensors(result)
                if values is None:
                    raise InferenceError(
                        f"the model returned {type(result).__name__}; tensorgate serves "
                        "models that return a tensor, a tuple or list of tensors, or a dict "
                        "of tensors"
                    )
                arrays = [v.detach().to("cpu").numpy() for v in values]
        except InferenceError:
            raise
        except Exception as exc:  # torch raises its own untyped errors
            raise InferenceError(f"torch failed on a batch: {exc}") from exc
        if len(arrays) != len(self._outputs):
            raise InferenceError(
                f"the model returned {len(arrays)} tensor(s) but {len(self._outputs)} "
                "output(s) are declared"
            )
        return {spec.name: array for spec, array in zip(self._outputs, arrays, strict=True)}

    def close(self) -> None:
        del self._module
        if self._torch_device.type == "cuda":
            torch.cuda.empty_cache()


def output_tensors(result: Any) -> list[torch.Tensor] | None:
    """A model's outputs as a list — one tensor, a tuple/list, or a dict in key order —
    or None when the model returned anything else."""
    if isinstance(result, torch.Tensor):
        return [result]
    if isinstance(result, dict):
        result = list(result.values())
    if isinstance(result, list | tuple) and all(isinstance(v, torch.Tensor) for v in result):
        return list(result)
    return None


def load_torchscript(path: Path, device: torch.device) -> torch.nn.Module:
    """A TorchScript archive in eval mode on ``device`` (torch's own errors pass through)."""
    with warnings.catch_warnings():
        # torch 2.13 deprecates TorchScript; archives still load and serve.
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.load(str(path), map_location=device)
    return cast("torch.nn.Module", scripted.eval())


def _dims(shape: Any) -> tuple[int, ...]:
    """A fake tensor's shape with every symbolic (dynamic) size as -1."""
    return tuple(d if isinstance(d, int) else -1 for d in shape)


def load_torch(path: Path, options: RuntimeOptions) -> TorchRuntime:
    """Factory for ``backend: pytorch`` models."""
    return TorchRuntime(path, options)
