"""The server settles its heap once start-up is done; the allocator gives freed pages
back."""

from __future__ import annotations

import gc
import sys

import pytest

from tensorgate.allocator import release_free_memory
from tensorgate.server.heap import YOUNG_THRESHOLD, settle_heap


def test_settling_freezes_the_start_up_heap_and_spaces_young_collections() -> None:
    before = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 1000  # modules, classes, this test's objects
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc_trim")
def test_free_heap_pages_go_back_to_the_os_on_glibc() -> None:
    assert release_free_memory()
