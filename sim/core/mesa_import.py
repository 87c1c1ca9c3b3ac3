"""Mesa imported without its logging helpers' walk of the import stack.

Mesa 3.5's `mesa.mesa_logging` names `mesa.model`'s logger with `inspect.stack()` and the class of
a decorated method with `inspect.getouterframes()`, both at import. For each of the 26 frames on
the stack, `inspect` looks for the source file and reads its line, and for the import system's
frozen frames (15 of them) that means a pass over every loaded module (1,269 by then), the first
one resolving each module's path on disk. That is about 0.13 s of an `import mesa` of 1.0-1.2 s.
Mesa uses only the frames, their function names and the module of one frame, so while it is
imported here `inspect.getframeinfo` gives a frame's file, line and function without its source
line, and `inspect.getmodule` reads a frame's module from the frame's globals; anything that is
not a frame goes to the real functions, and both are put back before `import_mesa` returns.

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
    """`import mesa`, without the two stack walks where no other thread could see the change."""
    if "mesa" in sys.modules or threading.active_count() > 1:
        import mesa  # noqa: F401
        return
    real_frame_info, real_module = inspect.getframeinfo, inspect.getmodule

    def frame_info(frame, context=1):
        if not inspect.isframe(frame):
            return real_frame_info(frame, context)
        return inspect.Traceback(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name, None, None)

    def module_of(obj, _filename=None):
        if not inspect.isframe(obj):
            return real_module(obj, _filename)
        return sys.modules.get(obj.f_globals.get("__name__"))

    inspect.getframeinfo, inspect.getmodule = frame_info, module_of
    try:
        import mesa  # noqa: F401
    finally:
        inspect.getframeinfo, inspect.getmodule = real_frame_info, real_module
