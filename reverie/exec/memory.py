"""Bulk work that makes many objects at once runs with the cyclic collector paused."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block.

    Building 100k tuples or lists (an insert's rows, a query's partitions) would otherwise
    run the collector over every live object again and again; it costs more than the work.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
