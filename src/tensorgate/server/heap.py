"""The serving process's garbage collector: settled once the models are loaded.

CPython's cyclic collector runs on the thread that happens to allocate, holding the
GIL: while it runs, the event loop answers nobody. A server that has loaded its models
holds hundreds of thousands of long-lived objects (modules, label lists, configs), and
every full collection walked them all again; under load the young collections ran every
few hundred requests. Measured at 2x capacity on 2 cores (``bench/overload.py``): full
collections of 47-153 ms and young ones of 15-20 ms stalled the loop, and the 503s'
p99 was 99-113 ms. With the start-up heap frozen and the young generation collected
every 10,000 allocations instead of 700: one full collection in 10 s and a 503 p99 of
12 ms.

Only the server does this (it owns its process); the in-process library leaves the
host application's collector alone.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "settle_heap"]

#: Allocations (net of frees) between two young collections (CPython's default: 700).
YOUNG_THRESHOLD = 10_000


def settle_heap() -> None:
    """Collect once, move every surviving object to the permanent generation (never
    traversed again) and make young collections rarer. Call once start-up is done."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 20, 100)
