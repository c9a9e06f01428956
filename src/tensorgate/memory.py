"""Model memory: how much a loaded model takes, the budget per device, and what to evict.

The engine measures each model version when it loads: the growth of the process's
resident memory for ``cpu`` and of the device's used memory (through NVML, when the
driver has it) for ``cuda:N``. Neither is ever taken as less than the model file's size:
an allocator may hand a new model pages freed by an earlier one without the resident
size growing at all.

Eviction is a pure choice (``plan_eviction``): the least recently used models that are
idle, just enough of them to fit the new one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from tensorgate import nvml
from tensorgate.errors import ConfigError

__all__ = [
    "MemoryProbe",
    "ProcessMemory",
    "Resident",
    "format_bytes",
    "parse_budget",
    "parse_size",
    "plan_eviction",
]

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")
_DEVICE = re.compile(r"^(cpu|cuda:[0-9]+)$")


def parse_size(text: str) -> int:
    """Bytes from ``"512MiB"``, ``"4GiB"``, ``"2GB"``, ``"1048576"``.

    Raises:
        ConfigError: not a size.
    """
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ConfigError(
            f"memory size {text!r} is not a size; write a number with an optional unit "
            "(B, KB, MB, GB, KiB, MiB, GiB), e.g. '4GiB'"
        )
    return int(float(match.group(1)) * _UNITS[unit])


def parse_budget(items: Sequence[str]) -> dict[str, int]:
    """Budgets per device from ``["4GiB"]`` (the CPU) or ``["cpu=4GiB", "cuda:0=20GiB"]``.

    Raises:
        ConfigError: a malformed item, an unknown device, or a device named twice.
    """
    budget: dict[str, int] = {}
    for item in items:
        device, sep, size = item.partition("=")
        if not sep:
            device, size = "cpu", item
        device = device.strip()
        if not _DEVICE.match(device):
            raise ConfigError(
                f"memory budget {item!r} names device {device!r}; use 'cpu' or 'cuda:N', "
                "as in 'cpu=4GiB' or 'cuda:0=20GiB'"
            )
        if device in budget:
            raise ConfigError(f"memory budget names device {device!r} twice; give it once")
        budget[device] = parse_size(size)
        if budget[device] <= 0:
            raise ConfigError(f"memory budget {item!r} is not positive")
    return budget


def format_bytes(size: int) -> str:
    """``1536 * 1024**2`` → ``"1536.0 MiB"`` (MiB, one decimal: readable in errors)."""
    return f"{size / 1024**2:.1f} MiB"


@dataclass(frozen=True, slots=True)
class Resident:
    """A loaded model as the eviction plan sees it.

    Attributes:
        name: model name.
        size: bytes it holds on the device (all its versions).
        last_used: when a request last reached it (monotonic seconds).
        idle: no request queued, decoding or running.
    """

    name: str
    size: int
    last_used: float
    idle: bool


def plan_eviction(residents: Sequence[Resident], need: int, budget: int) -> list[str] | None:
    """The models to evict, least recently used first, so that ``need`` more bytes fit
    in ``budget``; ``[]`` when they already fit, None when evicting every idle model
    would not be enough."""
    used = sum(r.size for r in residents)
    if used + need <= budget:
        return []
    chosen: list[str] = []
    for resident in sorted((r for r in residents if r.idle), key=lambda r: r.last_used):
        chosen.append(resident.name)
        used -= resident.size
        if used + need <= budget:
            return chosen
    return None


class MemoryProbe(Protocol):
    """Reads how much memory is in use on a device (None: cannot tell)."""

    def used(self, device: str) -> int | None: ...


class ProcessMemory:
    """``cpu``: this process's resident set; ``cuda:N``: the GPU's used memory (NVML)."""

    def __init__(self) -> None:
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def used(self, device: str) -> int | None:
        if device == "cpu":
            return self._rss()
        if device.startswith("cuda:"):
            return self._gpu_used(int(device.partition(":")[2]))
        return None

    def _rss(self) -> int | None:
        try:
            with open("/proc/self/statm", "rb") as statm:
                return int(statm.read().split()[1]) * self._page
        except (OSError, ValueError, IndexError):
            return None

    @staticmethod
    def _gpu_used(index: int) -> int | None:
        info = nvml.memory(index)
        return None if info is None else info.used


def file_size(paths: Mapping[int, os.PathLike[str] | str]) -> int:
    """Total size of model files (the floor of a model's measured memory)."""
    total = 0
    for path in paths.values():
        try:
            total += os.path.getsize(path)
        except OSError:
            continue
    return total
