"""Which devices exist here, and the defaults that follow from them."""

from __future__ import annotations

import os

from tensorgate.types import DeviceId

__all__ = ["cpu_count", "default_instances", "gate_slots", "pinnable_cores", "resolve_device"]


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


def resolve_device(requested: str, backend: str) -> DeviceId:
    """Turn ``auto`` into a concrete device for a backend; other values pass through."""
    if requested != "auto":
        return "cuda:0" if requested == "cuda" else requested
    if backend == "onnxruntime":
        from tensorgate.runtimes.onnx import auto_device

        return auto_device()
    return "cpu"


def default_instances(device: DeviceId) -> int:
    """One single-threaded instance per core on CPU; one per GPU."""
    return cpu_count() if device == "cpu" else 1


def gate_slots(device: DeviceId) -> int:
    """Batches a device runs at once: one per core on CPU, one on a GPU (its gatekeeper)."""
    return cpu_count() if device == "cpu" else 1
