"""Python's cyclic garbage collector paused for a block, and put back as it was after.

A run makes hundreds of thousands of long-lived objects (a Beijing run: 120,000 agents), and
each full collection walks all of them again, 3 or 4 times a run, for garbage the model barely
makes (its arrays and frames are freed by reference counting; a Beijing run's peak memory is the
same with the collector off). The model itself sits in reference cycles (model, agents, cells):
it is freed by the first collection after the block, or an explicit `gc.collect()`.
A command's start-up imports (Mesa, pandas, pydantic, matplotlib) likewise
set off collections that walk every module and class already loaded. The earlier state is
restored in a `finally`, so a notebook's process is left as it was, also when the block fails.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager


@contextmanager
def collector_paused():
    """The cyclic collector off for the block (left off after it if it was off before)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
