"""sim.core.mesa_import: Mesa imported by the command line without the passes over every module
that its logging helpers' stack walks set off, with the same loggers, and `inspect` as it was."""

from __future__ import annotations

import json
import subprocess
import sys

IMPORT = """
import inspect, json, logging, sys
frames_looked_up = []
real = inspect.getmodule
def counting(obj, _filename=None):
    if inspect.isframe(obj):
        frames_looked_up.append(obj.f_code.co_filename)
    return real(obj, _filename)
inspect.getmodule = counting
before = (inspect.getframeinfo, inspect.getmodule, inspect.stack)
if sys.argv[1] == "import_mesa":
    from sim.core.mesa_import import import_mesa
    import_mesa()
else:
    import mesa
import mesa
records = []
handler = logging.Handler()
handler.emit = lambda record: records.append(record.getMessage())
logger = logging.getLogger("MESA")
logger.addHandler(handler)
logger.setLevel(logging.DEBUG)
mesa.Model(rng=1)
print(json.dumps({"frames": len(frames_looked_up), "logger": mesa.model._mesa_logger.name,
                  "restored": (inspect.getframeinfo, inspect.getmodule, inspect.stack) == before,
                  "init": [m.split(" with ")[0] for m in records if m.startswith("calling")]}))
"""


def imported(how: str) -> dict:
    out = subprocess.run([sys.executable, "-c", IMPORT, how], capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout)


def test_import_mesa_names_the_same_loggers_without_looking_up_frames():
    plain, quick = imported("plain"), imported("import_mesa")
    # the frames Mesa's import looks up: when this fails, Mesa has stopped walking the stack and
    # sim/core/mesa_import.py can go
    assert plain["frames"] > 0
    assert quick["frames"] == 0
    assert quick["logger"] == plain["logger"] == "MESA.mesa.model"
    assert quick["init"] == plain["init"] == ["calling Model.__init__"]
    assert quick["restored"] and plain["restored"]


FAILING_IMPORT = """
import inspect, sys
class NoMesa:
    def find_spec(self, name, path=None, target=None):
        if name == "mesa":
            raise ImportError("no mesa here")
sys.meta_path.insert(0, NoMesa())
real = inspect.getmodule
from sim.core.mesa_import import import_mesa
try:
    import_mesa()
except ImportError as exc:
    print(exc, inspect.getmodule is real)
"""


def test_a_failing_import_puts_inspect_back():
    out = subprocess.run([sys.executable, "-c", FAILING_IMPORT], capture_output=True, text=True, check=True,
                         timeout=120)
    assert out.stdout.strip() == "no mesa here True"
