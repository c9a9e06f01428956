"""The NVIDIA management library through ctypes: GPUs, their names and memory.

No Python package is needed: the driver ships ``libnvidia-ml.so.1``. Every function
answers ``None`` or an empty list where there is no driver, so callers on a CPU machine
need no special case.
"""

from __future__ import annotations

import ctypes
import os
import threading
from dataclasses import dataclass

from tensorgate.protocol.numbers import is_decimal

__all__ = ["GpuMemory", "count", "memory", "name", "visible_gpus"]

_lock = threading.Lock()
_library: ctypes.CDLL | bool | None = False  # False: not tried yet


@dataclass(frozen=True, slots=True)
class GpuMemory:
    """One GPU's memory in bytes, as the driver reports it."""

    total: int
    free: int
    used: int


class _NvmlMemory(ctypes.Structure):
    _fields_ = [
        ("total", ctypes.c_ulonglong),
        ("free", ctypes.c_ulonglong),
        ("used", ctypes.c_ulonglong),
    ]


def _nvml() -> ctypes.CDLL | None:
    """The library, initialised once; None without a driver."""
    global _library
    with _lock:
        if _library is False:
            try:
                library = ctypes.CDLL("libnvidia-ml.so.1")
                _library = library if library.nvmlInit_v2() == 0 else None
            except (OSError, AttributeError):
                _library = None
        return _library if isinstance(_library, ctypes.CDLL) else None


def _handle(index: int) -> ctypes.c_void_p | None:
    nvml = _nvml()
    if nvml is None:
        return None
    handle = ctypes.c_void_p()
    if nvml.nvmlDeviceGetHandleByIndex_v2(ctypes.c_uint(index), ctypes.byref(handle)) != 0:
        return None
    return handle


def count() -> int:
    """GPUs the driver sees (0 without a driver)."""
    nvml = _nvml()
    if nvml is None:
        return 0
    found = ctypes.c_uint()
    if nvml.nvmlDeviceGetCount_v2(ctypes.byref(found)) != 0:
        return 0
    return int(found.value)


def name(index: int) -> str | None:
    """The product name of GPU ``index``."""
    nvml = _nvml()
    handle = _handle(index)
    if nvml is None or handle is None:
        return None
    buffer = ctypes.create_string_buffer(96)
    if nvml.nvmlDeviceGetName(handle, buffer, ctypes.c_uint(len(buffer))) != 0:
        return None
    return buffer.value.decode("utf-8", "replace")


def memory(index: int) -> GpuMemory | None:
    """Total, free and used memory of GPU ``index``."""
    nvml = _nvml()
    handle = _handle(index)
    if nvml is None or handle is None:
        return None
    info = _NvmlMemory()
    if nvml.nvmlDeviceGetMemoryInfo(handle, ctypes.byref(info)) != 0:
        return None
    return GpuMemory(int(info.total), int(info.free), int(info.used))


def visible_gpus(environ: dict[str, str] | None = None, found: int | None = None) -> list[int]:
    """Driver indices of the GPUs this process may use, in ``cuda:N`` order.

    ``CUDA_VISIBLE_DEVICES`` (a list of indices) narrows and reorders them as CUDA does;
    a list of UUIDs cannot be mapped without the driver's help, so all GPUs are kept.
    """
    environ = dict(os.environ) if environ is None else environ
    found = count() if found is None else found
    every = list(range(found))
    setting = environ.get("CUDA_VISIBLE_DEVICES")
    if setting is None:
        return every
    chosen: list[int] = []
    for item in setting.split(","):
        item = item.strip()
        if not is_decimal(item):
            # CUDA stops at the first entry it cannot parse; UUIDs we leave to it.
            return every if item.startswith(("GPU-", "MIG-")) else chosen
        if int(item) >= found or int(item) in chosen:
            break
        chosen.append(int(item))
    return chosen
