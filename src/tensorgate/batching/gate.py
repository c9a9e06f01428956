"""The device gate: the one gatekeeper of a device, admitting a bounded number of batches.

Every batch on a device passes its gate, whichever model it belongs to, so models never
fight over an accelerator: a GPU gate has one slot by default, a CPU gate one per core
(each instance runs one intra-op thread).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from tensorgate.types import DeviceId

__all__ = ["DeviceGate", "GateStatistics"]


@dataclass(frozen=True, slots=True)
class GateStatistics:
    """A snapshot of one gate.

    Attributes:
        device: the device slot the gate guards.
        slots: batches admitted at once at most.
        running: batches running now.
        waiting: batches waiting for a slot.
        admitted: batches admitted since start.
    """

    device: DeviceId
    slots: int
    running: int
    waiting: int
    admitted: int


class DeviceGate:
    """Admits at most ``slots`` batches onto ``device`` at once, first come first served."""

    def __init__(self, device: DeviceId, slots: int) -> None:
        if slots < 1:
            raise ValueError(f"a device gate needs at least one slot, got {slots}")
        self.device = device
        self.slots = slots
        self._semaphore = asyncio.Semaphore(slots)
        self._running = 0
        self._waiting = 0
        self._admitted = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot of the device for the duration of the block."""
        self._waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self._waiting -= 1
        self._running += 1
        self._admitted += 1
        try:
            yield
        finally:
            self._running -= 1
            self._semaphore.release()

    def statistics(self) -> GateStatistics:
        return GateStatistics(self.device, self.slots, self._running, self._waiting, self._admitted)
