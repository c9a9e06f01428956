"""The HTTP protocol's write coalescing: a response's writes in one loop step leave in
one ``writelines``, in order, and nothing pending is lost to a close."""

from __future__ import annotations

import asyncio
from typing import Any

from tensorgate.server.protocol import _CoalescedWrites
from tensorgate.server.sending import Sender


class _Transport:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def writelines(self, data: list[bytes]) -> None:
        self.calls.append(("writelines", list(data)))

    def close(self) -> None:
        self.calls.append(("close", None))

    def write_eof(self) -> None:
        self.calls.append(("write_eof", None))

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default  # no socket: the sender hands every write to the transport


async def test_writes_of_one_step_leave_together_in_order() -> None:
    transport = _Transport()
    writes = _CoalescedWrites(transport, asyncio.get_running_loop(), Sender(transport))  # type: ignore[arg-type]
    writes.write(b"HTTP/1.1 200 OK\r\n\r\n")
    writes.write(b"body")
    assert transport.calls == []  # not yet: the step is still running
    await asyncio.sleep(0)
    assert transport.calls == [("writelines", [b"HTTP/1.1 200 OK\r\n\r\n", b"body"])]
    writes.write(b"next")
    await asyncio.sleep(0)
    assert transport.calls[-1] == ("writelines", [b"next"])
    assert writes.is_closing() is False  # everything else is the transport's


async def test_close_and_eof_send_what_is_pending_first() -> None:
    transport = _Transport()
    writes = _CoalescedWrites(transport, asyncio.get_running_loop(), Sender(transport))  # type: ignore[arg-type]
    writes.write(b"last")
    writes.close()
    assert transport.calls == [("writelines", [b"last"]), ("close", None)]
    await asyncio.sleep(0)  # the scheduled flush finds nothing left
    assert len(transport.calls) == 2
    other = _Transport()
    writes = _CoalescedWrites(other, asyncio.get_running_loop(), Sender(other))  # type: ignore[arg-type]
    writes.write(b"x")
    writes.write_eof()
    assert other.calls == [("writelines", [b"x"]), ("write_eof", None)]
