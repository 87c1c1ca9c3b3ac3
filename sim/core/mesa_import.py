"""Mesa imported without the passes over every loaded module that its logging helpers set off.

Mesa 3.5's `mesa.mesa_logging` names `mesa.model`'s logger with `inspect.stack()` and the class of
a decorated method with `inspect.getouterframes()`, both at import. For each of the 26 frames on
the stack, `inspect` looks up the frame's module, and for the import system's frozen frames (15 of
them) `inspect.getmodule` finds none in its cache: each is a pass over every loaded module (1,269
by then), the first one resolving each module's path on disk. That is about 0.1 CPU s of an
`import mesa` of 1.0-1.2 s. While Mesa is imported here, `inspect.getmodule` of a frame is the
module its globals name (for a frame of a module's file, what the passes find; a frozen frame then
reads as having no source, as before); anything that is not a frame goes to the real function,
which is put back before `import_mesa` returns.

Only `teachersim run` (`sim.cli`) and the local workers' fork server
(`sim.experiments.worker_imports`) use it: both import the model whatever they do, from the main
thread before any other thread exists. Other commands import Mesa only where they run a model in
their own process, and there, as anywhere else (a notebook, `import sim`), Mesa is imported as
usual. Remove this module once Mesa names its loggers without `inspect` (for example
`create_module_logger(__name__)`)."""

from __future__ import annotations

import inspect
import sys
import threading


def import_mesa() -> None:
    """`import mesa`, without the passes over every module, where no other thread could see the change."""
    if "mesa" in sys.modules or threading.active_count() > 1:
        import mesa  # noqa: F401
        return
    real_module = inspect.getmodule

    def module_of(obj, _filename=None):
        if not inspect.isframe(obj):
            return real_module(obj, _filename)
        return sys.modules.get(obj.f_globals.get("__name__"))

    inspect.getmodule = module_of
    try:
        import mesa  # noqa: F401
    finally:
        inspect.getmodule = real_module
