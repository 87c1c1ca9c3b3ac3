"""Interactive exploration: a Mesa SolaraViz app that steps a scenario year by year.

It shows the place graph with the year's rotations drawn on it and the between-school CV curves
against the official limits, and lets you pick a scenario, the size of a small world and the
seed. It needs the `viz` extra (`pip install -e '.[viz]'`).

In a browser, from the repository root:

    solara run sim/app.py

Inline in a notebook (the last expression of a cell displays it):

    from sim.app import make_page
    make_page()

Quotas given as head counts are scaled to the small world (`sim.whatif.small_world`).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import solara
from mesa.visualization import SolaraViz, make_plot_component
from mesa.visualization.utils import update_counter

from sim import plots
from sim.codes import MOVE_KINDS
from sim.model import RotationModel
from sim.whatif import small_world

SCENARIO_DIR = Path(__file__).resolve().parents[1] / "scenarios"
DEFAULT_SCENARIO = "dongcheng_2021"


def scenario_names(folder: Path = SCENARIO_DIR) -> list[str]:
    """The shipped scenario files (without the `_base` defaults)."""
    return sorted(p.stem for p in folder.glob("*.yaml") if not p.name.startswith("_"))


class ExplorerModel(RotationModel):
    """A RotationModel made from plain keyword parameters, as SolaraViz re-creates it on reset.

    (The scenario's parameter is not called `scenario`: SolaraViz passes a Mesa scenario object
    under that name when it re-creates a model.)

    Args:
        scenario_name: the name of a file in scenarios/.
        schools_per_district, teachers_per_school: the small world's size.
        districts: districts of a Beijing-shaped world (ignored by the one-district Dongcheng preset).
        rng: the run seed.
    """

    def __init__(self, scenario_name: str = DEFAULT_SCENARIO, schools_per_district: int = 16,
                 teachers_per_school: int = 25, districts: int = 3, rng: int = 42):
        path = SCENARIO_DIR / f"{scenario_name}.yaml"
        sc = small_world(path, schools_per_district, teachers_per_school,
                         districts=districts if _preset(path) == "beijing" else None)
        super().__init__(sc, rng=int(rng))

    def tidy_metrics(self) -> pd.DataFrame:
        """The metric rows so far as a tidy frame (one replicate), as `sim.run` returns them."""
        frame = pd.DataFrame(self.metric_rows, columns=["year", "metric", "group", "value"])
        frame.insert(0, "seed", self.seed)
        frame.insert(0, "replicate", 0)
        frame.insert(0, "scenario", self.config.name)
        return frame

    def year_moves(self) -> pd.DataFrame:
        """This year's moves as a tidy frame (from_school, to_school, kind, year)."""
        c = self.move_log.columns()
        frame = pd.DataFrame({"year": c["year"], "from_school": c["from_school"], "to_school": c["to_school"],
                              "kind": pd.Categorical.from_codes(c["kind"], categories=list(MOVE_KINDS))})
        return frame[frame["year"] == self.year]


def _preset(path: Path) -> str:
    from sim.scenario import load_scenario

    return load_scenario(path).world.preset


@solara.component
def NetworkView(model: ExplorerModel):
    """The place graph with this year's rotations (arrows from home to host)."""
    update_counter.get()
    fig = plots.network_map(model.world.graph, model.year_moves(), year=model.year if model.year else None,
                            title=f"{model.config.name}, year {model.year}: "
                                  f"{int(model.latest.get('rotations', 0))} rotations")
    solara.FigureMatplotlib(fig, format="png", bbox_inches="tight")
    plt.close(fig)


@solara.component
def CVView(model: ExplorerModel):
    """Between-school CV of each teacher indicator so far, with the high-quality limits."""
    update_counter.get()
    fig = plots.cv_trajectories(model.tidy_metrics())
    solara.FigureMatplotlib(fig, format="png", bbox_inches="tight")
    plt.close(fig)


def model_params() -> dict:
    """The controls of the sidebar (SolaraViz's model_params)."""
    return {
        "scenario_name": {"type": "Select", "value": DEFAULT_SCENARIO, "values": scenario_names(),
                     "label": "scenario"},
        "schools_per_district": {"type": "SliderInt", "value": 16, "min": 4, "max": 80, "step": 2,
                                 "label": "schools per district"},
        "teachers_per_school": {"type": "SliderInt", "value": 25, "min": 10, "max": 110, "step": 5,
                                "label": "teachers per school"},
        "districts": {"type": "SliderInt", "value": 3, "min": 1, "max": 16, "step": 1,
                      "label": "districts (Beijing-shaped scenarios)"},
        "rng": {"type": "SliderInt", "value": 42, "min": 0, "max": 999, "step": 1, "label": "seed"},
    }


COMPONENTS = [(NetworkView, 0), (CVView, 0), make_plot_component(["rotations", "coverage_eligible"], page=1)]


def make_page(model: ExplorerModel | None = None):
    """The SolaraViz element of the app (a solara element; displays itself in a notebook)."""
    model = model if model is not None else ExplorerModel()
    return SolaraViz(model, components=COMPONENTS, model_params=model_params(), name="teachersim explorer",
                     play_interval=400)


@solara.component
def Page():
    """What `solara run sim/app.py` serves: the app on a model made once per browser session."""
    model = solara.use_memo(ExplorerModel, [])
    return make_page(model)
