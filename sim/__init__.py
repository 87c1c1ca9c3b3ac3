"""teachersim: an agent-based simulator of teacher and cadre rotation between schools.

The public API: `load_scenario`, `run`, `RotationModel`. Nothing is read or written at import.
"""

from sim.scenario import Scenario, ScenarioError, load_scenario, scenario_from_dict

__all__ = ["RotationModel", "Scenario", "ScenarioError", "load_scenario", "run", "scenario_from_dict"]
__version__ = "0.1.0"


def __getattr__(name):
    # the model and runner pull in Mesa, pandas and friends: load them on first use only
    if name == "RotationModel":
        from sim.model import RotationModel
        return RotationModel
    if name == "run":
        from sim.experiment import run
        return run
    raise AttributeError(name)
