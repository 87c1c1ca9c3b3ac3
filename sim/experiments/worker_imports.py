"""What the local cluster's fork server imports (`executors.start_fork_server` preloads this module):
`executors.WORKER_IMPORTS`, with the garbage collector paused meanwhile and their objects frozen after.

Those imports are about 1,600 modules and 140,000 objects that live as long as the process, yet
they set off some 350 collections: 0.15-0.2 CPU s of the fork server's 1.3-1.5 s, which are on
the critical path of a sweep's start on local workers (they are forked only once the imports are
done). Frozen (`gc.freeze`), the imported objects are not looked at by any later collection, in
the fork server or in the workers forked from it (and their memory pages stay shared: the pattern
the `gc.freeze` documentation gives for a process that forks); the collector is on again in both.
Import it only as that preload: importing it runs the imports and freezes the importing process.
"""

from __future__ import annotations

import gc
import importlib

from sim.collector import collector_paused
from sim.core.mesa_import import import_mesa
from sim.experiments.executors import WORKER_IMPORTS


def import_all(names=WORKER_IMPORTS) -> None:
    """Import each module with the collector paused, then freeze what exists. A module that fails
    to import is skipped, as the fork server skips a preload that fails, and the worker imports it
    itself (and reports the error there)."""
    with collector_paused():
        try:
            import_mesa()  # first, without the passes over every module its import sets off (sim/core/mesa_import.py)
        except ImportError:
            pass
        for name in names:
            try:
                importlib.import_module(name)
            except ImportError:
                pass
        gc.freeze()


import_all()
