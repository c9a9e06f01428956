"""Hand freed heap memory back to the operating system.

glibc's malloc keeps what a program frees in per-thread arenas for reuse. A model
version that retires (a reload, an unload, an eviction) frees its session's weights and
buffers from the threads that built and ran it; with new threads building each new copy,
those pages are never reused and the resident size climbs with every reload (measured:
+14 MiB per reload idle, +85 MiB per reload under HTTP load; docs/reliability.md).
``malloc_trim(0)`` returns the free pages of every arena at once. Elsewhere (musl,
macOS, Windows) this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable

__all__ = ["release_free_memory"]


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


def release_free_memory() -> bool:
    """Return the heap's free pages to the OS; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
