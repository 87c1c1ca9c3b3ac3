"""Mesa imported through `sim.core.mesa_import` (without reading frames' source) names its
loggers as a plain `import mesa` does, and leaves `inspect` as it was."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import inspect, json, sys
stack, outer = inspect.stack, inspect.getouterframes
{imports}
import mesa.mesa_logging as ml
print(json.dumps({{"loggers": sorted(ml._module_loggers),
                  "module_loggers": {{m: sys.modules[m]._mesa_logger.name for m in sorted(sys.modules)
                                     if m.startswith("mesa") and hasattr(sys.modules[m], "_mesa_logger")}},
                  "restored": inspect.stack is stack and inspect.getouterframes is outer}}))
"""


def _probe(imports: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE.format(imports=imports)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def test_mesa_loggers_are_named_as_by_a_plain_import():
    plain = _probe("import mesa, mesa.discrete_space")
    ours = _probe("import sim.core.model")
    assert plain["loggers"] and "mesa.model" in plain["loggers"]
    assert ours["loggers"] == plain["loggers"]
    assert plain["module_loggers"]["mesa.model"] == "MESA.mesa.model"  # named from the importing frame
    assert ours["module_loggers"] == plain["module_loggers"]
    assert ours["restored"]


def test_inspect_is_put_back_when_the_import_fails():
    import inspect

    from sim.core.mesa_import import frames_without_source

    stack, outer = inspect.stack, inspect.getouterframes
    try:
        with frames_without_source():
            assert inspect.stack is not stack
            frames = inspect.stack()
            assert frames[0].function == "test_inspect_is_put_back_when_the_import_fails"
            assert frames[0].code_context is None
            raise RuntimeError("an import that fails")
    except RuntimeError:
        pass
    assert inspect.stack is stack and inspect.getouterframes is outer
