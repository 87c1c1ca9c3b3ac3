"""Interactive exploration: a Solara page that steps a scenario year by year on Mesa's controls.

Three tabs show the place graph with the year's rotations drawn on it, the between-school CV
curves against the official limits, and the rotations and coverage so far; the sidebar has Mesa's
Reset / play / Step buttons, the year, and the next run's scenario, world size and seed (applied on
Reset). It needs the `viz` extra (`pip install -e '.[viz]'`): its `solara-assets` serves the page's
scripts locally; without it the page waits for a CDN and stays blank offline.

In a browser, from the repository root (`--production`: no reload watcher, minified scripts):

    solara run sim/present/app.py --production

Inline in a notebook (the last expression of a cell displays it):

    from sim.present.app import make_page
    make_page()

Why not Mesa's `SolaraViz` page itself: it names its tabs "Page 0", "Page 1", its sliders hide
their values and its grid shrinks each figure into a half-width cell. This page keeps Mesa's
`ModelController` (the buttons, the play loop, Reset re-creating the model) and lays out the rest.
Each figure is drawn once per year and model, not on every re-render of the page.

Quotas given as head counts are scaled to the small world (`sim.experiments.whatif.small_world`).
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import solara
import solara.lab
from matplotlib.ticker import MaxNLocator
from mesa.visualization.solara_viz import ModelController
from mesa.visualization.utils import update_counter

from sim.codes import MOVE_KINDS
from sim.config import examples
from sim.core.model import RotationModel
from sim.experiments.run import metric_frame
from sim.experiments.whatif import small_world
from sim.present import plots
from sim.world.presets import PRESETS

SCENARIO_DIR = examples.SCENARIOS  # the shipped scenarios (package data), from any folder
DEFAULT_SCENARIO = "dongcheng_2021"
TITLE = "teachersim explorer"
TABS = ("Network map", "CV curves", "Rotations and coverage")
PLAY_INTERVAL_MS = 400
FIGURE_WIDTH_PX = 1200  # each figure is drawn this wide and shown at most this wide (less: the tab's width)


def scenario_names(folder: Path = SCENARIO_DIR) -> list[str]:
    """The shipped scenario files (without the `_base` defaults)."""
    return sorted(p.stem for p in folder.glob("*.yaml") if not p.name.startswith("_"))


class ExplorerModel(RotationModel):
    """A RotationModel made from plain keyword parameters, as Mesa's Reset re-creates it.

    (The scenario's parameter is not called `scenario`: Mesa passes a Mesa scenario object under
    that name to a model that accepts it.) It stops (`running`) at the scenario's last year.

    Args:
        scenario_name: the name of a shipped scenario (a file in scenarios/).
        schools_per_district, teachers_per_school: the small world's size.
        districts: districts of a Beijing-shaped world (ignored by the one-district Dongcheng preset).
        rng: the run seed.
    """

    def __init__(self, scenario_name: str = DEFAULT_SCENARIO, schools_per_district: int = 16,
                 teachers_per_school: int = 25, districts: int = 3, rng: int = 42):
        path = SCENARIO_DIR / f"{scenario_name}.yaml"
        sc = small_world(path, schools_per_district, teachers_per_school,
                         districts=districts if len(PRESETS[_preset(path)].district_names) > 1 else None)
        super().__init__(sc, rng=int(rng))
        self.params = {"scenario_name": scenario_name, "schools_per_district": schools_per_district,
                       "teachers_per_school": teachers_per_school, "districts": districts, "rng": int(rng)}

    def step(self) -> None:
        super().step()
        self.running = self.year < self.config.run.years

    def tidy_metrics(self) -> pd.DataFrame:
        """The metric rows so far as a tidy frame (one replicate), as `sim.run` returns them."""
        return metric_frame(self.metric_rows, {"scenario": self.config.name, "replicate": 0, "seed": self.seed})

    def year_moves(self) -> pd.DataFrame:
        """This year's moves as a tidy frame (from_school, to_school, kind, year)."""
        c = self.move_log.columns()
        frame = pd.DataFrame({"year": c["year"], "from_school": c["from_school"], "to_school": c["to_school"],
                              "kind": pd.Categorical.from_codes(c["kind"], categories=list(MOVE_KINDS))})
        return frame[frame["year"] == self.year]


def _preset(path: Path) -> str:
    from sim.config.scenario import load_scenario

    return load_scenario(path).world.preset


def model_params() -> dict:
    """The sidebar's controls, by ExplorerModel keyword (in Mesa's model_params form)."""
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


# ------------------------------------------------------------------------------------ figures

def whole_years(fig: plt.Figure, years: int) -> plt.Figure:
    """Year axes span the whole run with whole-year ticks (no 0.5), and each year is a marker
    (year 0 alone is a single point, which a bare line does not show)."""
    for ax in fig.axes:
        ax.set_xlim(-0.3, years + 0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        for line in ax.lines:
            if line.get_linestyle() == "-":
                line.set_marker("o")
                line.set_markersize(4)
    return fig


def draw_network(model: ExplorerModel) -> plt.Figure:
    return plots.network_map(model.world.graph, model.year_moves(), year=model.year,
                             title=f"{model.config.name}, year {model.year}: "
                                   f"{int(model.latest.get('rotations', 0))} rotations")


def draw_cv(model: ExplorerModel) -> plt.Figure:
    return whole_years(plots.cv_trajectories(model.tidy_metrics()), model.config.run.years)


def draw_activity(model: ExplorerModel) -> plt.Figure:
    return whole_years(plots.rotation_activity(model.tidy_metrics()), model.config.run.years)


def png(fig: plt.Figure) -> bytes:
    """The figure as PNG, FIGURE_WIDTH_PX wide (drawing more pixels than are shown only costs time); closes it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=FIGURE_WIDTH_PX / fig.get_figwidth())
    plt.close(fig)
    return buf.getvalue()


# --------------------------------------------------------------------------------- components

@solara.component
def FigureView(draw, model: ExplorerModel):
    """One figure of the model's current year, drawn again only when the year or the model changes."""
    update_counter.get()
    image = solara.use_memo(lambda: png(draw(model)), [draw, model, model.year])
    name = draw.__name__.removeprefix("draw_")  # a class for the browser test: network, cv, activity
    with solara.Div(classes=["figure", name], style={"max-width": f"{FIGURE_WIDTH_PX}px"}):
        solara.Image(image, width="100%")


@solara.component
def YearView(model: ExplorerModel):
    """The year shown, of the run's years, and this year's rotations."""
    update_counter.get()
    solara.Text(f"Year {model.year} of {model.config.run.years}", classes=["year-counter"],
                style={"display": "block", "margin-top": "0.8em", "font-weight": "bold"})
    solara.Text(f"{int(model.latest.get('rotations', 0))} rotations this year", style={"display": "block"})


@solara.component
def ParamControls(values: solara.Reactive[dict]):
    """The next run's scenario, world size and seed; each slider's label shows its value."""
    for name, spec in model_params().items():
        def set_value(value, name=name):
            values.value = {**values.value, name: value}

        if spec["type"] == "Select":
            solara.Select(spec["label"], value=values.value[name], values=spec["values"], on_value=set_value)
        else:
            solara.SliderInt(f"{spec['label']}: {values.value[name]}", value=values.value[name], min=spec["min"],
                             max=spec["max"], step=spec["step"], on_value=set_value)


@solara.component
def Explorer(model: ExplorerModel):
    """The page: Mesa's controls and the year in the sidebar, the figures in named tabs."""
    current = solara.use_reactive(model)
    values = solara.use_reactive(dict(model.params))
    with solara.AppBar():
        solara.AppBarTitle(TITLE)
    with solara.Sidebar():
        with solara.Card("Run"):
            ModelController(current, model_parameters=values,  # it reads these three as reactives
                            play_interval=solara.use_reactive(PLAY_INTERVAL_MS),
                            render_interval=solara.use_reactive(1), use_threads=solara.use_reactive(False))
            YearView(current.value)
        with solara.Card("Next run (Reset applies it)"):
            ParamControls(values)
    with solara.lab.Tabs(lazy=True):
        for label, draw in zip(TABS, (draw_network, draw_cv, draw_activity), strict=True):
            with solara.lab.Tab(label):
                FigureView(draw, current.value)


def make_page(model: ExplorerModel | None = None):
    """The app's element (a solara element; displays itself in a notebook)."""
    return Explorer(model if model is not None else ExplorerModel())


@solara.component
def Page():
    """What `solara run sim/present/app.py` serves: the app on a model made once per browser session."""
    model = solara.use_memo(ExplorerModel, [])
    return make_page(model)
