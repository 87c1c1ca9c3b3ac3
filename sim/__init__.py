"""teachersim: an agent-based simulator of teacher and cadre rotation between schools.

The public API: `load_scenario`, `run`, `compare`, `sweep`, `load_results`, `RotationModel`; for
notebooks also `small_world`, `what_if` (sim.whatif) and `write_report` (the HTML report).
Nothing is read or written at import.
"""

from sim.scenario import Scenario, ScenarioError, load_scenario, scenario_from_dict

__all__ = ["RotationModel", "Scenario", "ScenarioError", "achievement_band", "compare", "load_results",
           "load_scenario", "run", "scenario_from_dict", "sensitivity", "small_world", "sweep", "what_if",
           "write_report"]
__version__ = "0.1.0"

# name -> module: the model and runners pull in Mesa, pandas, Dask and friends, so load on first use only
_LAZY = {"RotationModel": "sim.model", "achievement_band": "sim.bands", "run": "sim.experiment",
         "compare": "sim.experiment", "sweep": "sim.experiment", "load_results": "sim.results",
         "sensitivity": "sim.analysis",
         "small_world": "sim.whatif", "what_if": "sim.whatif", "write_report": "sim.html_report"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
