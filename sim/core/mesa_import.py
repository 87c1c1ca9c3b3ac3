"""Import Mesa without reading the source of every frame on the stack.

Mesa 3.5 names a logger for each of its modules as they are imported (`mesa_logging`): it calls
`inspect.stack()` and `inspect.getouterframes()`, which read the source line of every frame on
the stack, and then uses only each frame's module and function name. In a fresh process that
costs 0.3-0.7 s (measured in benchmarks/README.md), paid by every `teachersim` command that
runs a model and by every sweep worker. While Mesa is imported here, the two functions return
the same frames without their source lines (context 0); they are put back in a `finally`, and
the loggers get the same names (tests/test_mesa_import.py).
"""

from __future__ import annotations

import inspect
import sys
from contextlib import contextmanager


@contextmanager
def frames_without_source():
    """`inspect.stack` and `inspect.getouterframes` with context 0 for the block."""
    stack, outer = inspect.stack, inspect.getouterframes

    def lean_stack(context: int = 1):
        return outer(sys._getframe(1), 0)  # the caller's frame first, as inspect.stack gives it

    def lean_outer(frame, context: int = 1):
        return outer(frame, 0)

    inspect.stack, inspect.getouterframes = lean_stack, lean_outer
    try:
        yield
    finally:
        inspect.stack, inspect.getouterframes = stack, outer


def import_mesa() -> None:
    """Import Mesa and its discrete spaces, once per process."""
    if "mesa.discrete_space" in sys.modules:
        return
    with frames_without_source():
        import mesa.discrete_space  # noqa: F401
