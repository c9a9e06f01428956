"""Which devices exist here, and the defaults that follow from them.

``discover()`` answers what ``tensorgate devices`` prints: the CPU cores this process may
use, the CUDA GPUs the driver sees (name and memory, through NVML), and which runtimes
here can reach them. ``resolve_device`` turns a model's ``device: auto`` into a concrete
slot, so that the same model directory runs on a laptop and on a GPU server unchanged.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass

from tensorgate import nvml
from tensorgate.errors import ConfigError
from tensorgate.imaging.gpu import gpu_decoder
from tensorgate.nvml import visible_gpus
from tensorgate.runtimes.backends import backend_named
from tensorgate.types import DeviceId

__all__ = [
    "CpuInfo",
    "GpuInfo",
    "Inventory",
    "cpu_count",
    "default_instances",
    "discover",
    "gate_slots",
    "pinnable_cores",
    "resolve_device",
    "visible_gpus",
]

#: CPU features that decide which kernels onnxruntime and torch pick.
_CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8")


@dataclass(frozen=True, slots=True)
class CpuInfo:
    """The CPU as this process sees it.

    Attributes:
        cores: logical CPUs this process may run on (its affinity mask).
        logical: logical CPUs of the machine.
        model: the processor's name (empty where unknown).
        flags: which of the features that matter for inference it has.
    """

    cores: int
    logical: int
    model: str = ""
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GpuInfo:
    """One CUDA GPU: its device slot (``cuda:N``), name and memory in bytes."""

    device: DeviceId
    name: str
    memory_total: int
    memory_free: int


@dataclass(frozen=True, slots=True)
class Inventory:
    """What ``discover`` found.

    Attributes:
        cpu: the CPU.
        gpus: CUDA GPUs visible to this process, in ``cuda:N`` order.
        onnxruntime_providers: the execution providers this onnxruntime build has.
        tensorrt: whether TensorRT's library loads (onnxruntime-gpu lists its TensorRT
            provider regardless; tensorgate asks for it only when this is true).
        torch: the installed torch version (None: not installed, or not asked).
        torch_cuda: whether that torch sees a CUDA device.
        gpu_decoder: the GPU JPEG decoder installed (``torchvision``, ``nvimgcodec``), used
            for models on a GPU; None: JPEGs decode on the CPU everywhere.
    """

    cpu: CpuInfo
    gpus: tuple[GpuInfo, ...] = ()
    onnxruntime_providers: tuple[str, ...] = ()
    tensorrt: bool = False
    torch: str | None = None
    torch_cuda: bool = False
    gpu_decoder: str | None = None


def cpu_count() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def pinnable_cores() -> tuple[int, ...]:
    """The cores inference threads may be pinned to (empty where pinning is unsupported)."""
    if not hasattr(os, "sched_setaffinity"):
        return ()
    return tuple(sorted(os.sched_getaffinity(0)))


def _cpu_info(cpuinfo: str | None = None) -> CpuInfo:
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
                cpuinfo = handle.read()
        except OSError:
            cpuinfo = ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    flags_line = re.search(r"^flags\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    present = set(flags_line.group(1).split()) if flags_line else set()
    return CpuInfo(
        cores=cpu_count(),
        logical=os.cpu_count() or 1,
        model=model.group(1).strip() if model else "",
        flags=tuple(f for f in _CPU_FLAGS if f in present),
    )


def discover(*, probe_torch: bool = False) -> Inventory:
    """The devices here. ``probe_torch`` imports torch (slow) to ask what it sees."""
    gpus = []
    for slot, index in enumerate(visible_gpus()):
        info = nvml.memory(index)
        gpus.append(
            GpuInfo(
                device=f"cuda:{slot}",
                name=nvml.name(index) or "unknown GPU",
                memory_total=info.total if info else 0,
                memory_free=info.free if info else 0,
            )
        )
    import onnxruntime as ort

    from tensorgate.runtimes.onnx import tensorrt_loadable

    torch_version: str | None = None
    torch_cuda = False
    if probe_torch and importlib.util.find_spec("torch") is not None:
        import torch

        torch_version = str(torch.__version__)
        torch_cuda = bool(torch.cuda.is_available())
    return Inventory(
        cpu=_cpu_info(),
        gpus=tuple(gpus),
        onnxruntime_providers=tuple(ort.get_available_providers()),
        tensorrt=tensorrt_loadable(),
        torch=torch_version,
        torch_cuda=torch_cuda,
        gpu_decoder=gpu_decoder(),
    )


def resolve_device(requested: str, backend: str) -> DeviceId:
    """Turn ``auto`` into a concrete device for a backend; check ``cuda:N`` exists.

    ``auto`` is ``cuda:0`` when a GPU is visible and the backend's runtime can use it
    (an onnxruntime build with the CUDA provider; a torch build with CUDA), else ``cpu``.
    """
    if requested == "cuda":
        requested = "cuda:0"
    if requested.startswith("cuda:"):
        index = int(requested.partition(":")[2])
        visible = len(visible_gpus())
        if visible and index >= visible:
            raise ConfigError(
                f"device {requested!r} does not exist: {visible} GPU(s) are visible "
                f"(cuda:0 … cuda:{visible - 1}); see `tensorgate devices`"
            )
        return requested
    if requested != "auto":
        return requested
    return backend_named(backend).auto_device()


def default_instances(device: DeviceId) -> int:
    """One single-threaded instance per core on CPU; one per GPU."""
    return cpu_count() if device == "cpu" else 1


def gate_slots(device: DeviceId) -> int:
    """Batches a device runs at once: one per core on CPU, one on a GPU (its gatekeeper)."""
    return cpu_count() if device == "cpu" else 1
