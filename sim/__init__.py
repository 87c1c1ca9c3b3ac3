"""teachersim: an agent-based simulator of teacher and cadre rotation between schools.

The public API: `load_scenario`, `run`, `compare`, `sweep`, `load_results`, `RotationModel`; for
notebooks also `small_world`, `what_if` (sim.experiments.whatif) and `write_report` (the report of any result folder).
Nothing is read or written at import.
"""

__all__ = ["RotationModel", "Scenario", "ScenarioError", "achievement_band", "compare", "load_results",
           "load_scenario", "run", "scenario_from_dict", "sensitivity", "small_world", "sweep", "what_if",
           "write_report"]
__version__ = "0.1.0"

# name -> module, each loaded on first use: the model and runners pull in Mesa, pandas, Dask and
# friends, the scenario schema pydantic, so that `import sim.cli` (and the command's start) imports none
_LAZY = {"Scenario": "sim.config.scenario", "ScenarioError": "sim.config.scenario",
         "load_scenario": "sim.config.scenario", "scenario_from_dict": "sim.config.scenario",
         "RotationModel": "sim.core.model", "achievement_band": "sim.experiments.bands",
         "run": "sim.experiments.run", "compare": "sim.experiments.run",
         "sweep": "sim.experiments.run", "load_results": "sim.storage.results",
         "sensitivity": "sim.experiments.statistics", "small_world": "sim.experiments.whatif",
         "what_if": "sim.experiments.whatif", "write_report": "sim.present.reports"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)


def __dir__():
    """The lazy names too, so that a notebook's completion offers them."""
    return sorted({*globals(), *__all__})
