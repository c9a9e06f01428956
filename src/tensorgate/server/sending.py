"""A response's bytes to the socket without holding the GIL through the system call.

uvloop's ``transport.write`` sends at once from its own C code, the GIL held for the
whole ``write`` system call; on a VM that call costs a tenth of a millisecond or more,
and it was the largest single holder of the GIL per image on the infer lane
(``bench.gil``: 8–12 % of the samples). ``os.writev`` lets go of the GIL during the
call, so the other threads (decoding, inference) run meanwhile.

Bytes go straight to the socket only when the transport has nothing queued (they cannot
overtake it), on a plain TCP socket (never under TLS, where the transport encrypts);
whatever the socket does not take at once (its buffer is full, or it failed) goes
through the transport, which queues it, and which meets and reports any error itself.
A connection that is closing gets nothing (uvloop raises on a write to a closed one).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence

__all__ = ["Sender"]


def _plain_fd(transport: asyncio.BaseTransport) -> int | None:
    """The socket's file descriptor, when bytes may be written to it directly."""
    if transport.get_extra_info("sslcontext") is not None:
        return None
    if transport.get_extra_info("ssl_object") is not None:
        return None
    sock = transport.get_extra_info("socket")
    if sock is None:
        return None
    try:
        fd = sock.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return fd if isinstance(fd, int) and fd >= 0 else None


class Sender:
    """Sends a connection's responses (see the module's docstring)."""

    __slots__ = ("_fd", "_transport")

    def __init__(self, transport: asyncio.WriteTransport) -> None:
        self._transport = transport
        self._fd = _plain_fd(transport)

    @property
    def direct(self) -> bool:
        """Whether bytes may go straight to the socket (a plain TCP socket)."""
        return self._fd is not None

    def send(self, parts: Sequence[bytes]) -> None:
        """Send ``parts`` in order, after anything sent before; nothing on a connection
        that is closing (its peer is gone, or it was closed)."""
        transport = self._transport
        if transport.is_closing():
            return
        if self._fd is not None and transport.get_write_buffer_size() == 0:
            try:
                sent = os.writev(self._fd, parts)
            except OSError:  # full (EAGAIN), reset, too many parts: the transport decides
                sent = 0
            if sent:
                data = b"".join(parts)
                if sent >= len(data):
                    return
                parts = [data[sent:]]
        transport.writelines(parts)
