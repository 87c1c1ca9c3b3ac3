"""The app (sim/present/app.py): the page is built and rendered, its controls drive the model, and each
figure is drawn once per year. tests/test_app_browser.py opens it in chromium."""

from __future__ import annotations

import inspect

import ipyvuetify as v
import ipywidgets
import pytest
import solara

from sim.present import app, plots


class Spy(app.ExplorerModel):
    """Records every model Reset makes (it re-creates the model's own class)."""

    made: list = []

    def __init__(self, scenario_name: str = app.DEFAULT_SCENARIO, schools_per_district: int = 16,
                 teachers_per_school: int = 25, districts: int = 3, rng: int = 42):
        kwargs = {"scenario_name": scenario_name, "schools_per_district": schools_per_district,
                  "teachers_per_school": teachers_per_school, "districts": districts, "rng": rng}
        super().__init__(**kwargs)  # named parameters: with **kwargs Mesa would pass `scenario=`
        Spy.made.append((kwargs, self))


SMALL = {"schools_per_district": 8, "teachers_per_school": 15}


@pytest.fixture
def rendered():
    Spy.made.clear()
    model = Spy(**SMALL)

    @solara.component
    def Shell():  # solara run wraps pages in an AppLayout, which holds the sidebar's controls
        with solara.AppLayout() as main:
            app.make_page(model)
        return main

    box, rc = solara.render(Shell(), handle_error=False)
    yield model, rc
    rc.close()


def images(rc) -> list[bytes]:
    return [bytes(w.value) for w in rc.find(ipywidgets.Image).widgets]


def slider_labels(rc) -> list[str]:
    return [s.label for s in rc.find(v.Slider).widgets]


def click(rc, label: str) -> None:
    rc.find(v.Btn, children=[label]).widget.click()


def year_counter(rc) -> str:
    return rc.find(v.Html, class_="year-counter").widget.children[0]


def test_page_is_the_explorer_on_the_given_model():
    model = app.ExplorerModel(**SMALL)
    page = app.make_page(model)
    assert page.component.name == "Explorer" and page.args[0] is model
    params = app.model_params()
    assert list(params) == [p for p in inspect.signature(app.ExplorerModel).parameters]
    assert "dongcheng_2021" in params["scenario_name"]["values"] and "_base" not in params["scenario_name"]["values"]
    assert model.params == {**{k: p["value"] for k, p in params.items()}, **SMALL}


def test_the_model_is_a_small_world_with_scaled_quotas():
    model = app.ExplorerModel(scenario_name="dongcheng_2021", **SMALL)
    assert model.world.n_schools == 8
    exchange = next(p for p in model.config.policy.programs if p.name == "district_exchange")
    assert 1 <= exchange.quota.min_count < 2000  # 2,000 per 8,800 teachers, scaled to about 120
    beijing = app.ExplorerModel(scenario_name="japan_prefectural", districts=2, **SMALL)
    assert beijing.world.district_names == ["Dongcheng", "Xicheng"]


def test_the_model_stops_at_the_scenarios_last_year():
    model = app.ExplorerModel(**SMALL)
    years = model.config.run.years
    for _ in range(years - 1):
        model.step()
    assert model.running and model.year == years - 1
    model.step()
    assert not model.running and model.year == years


def test_rendered_page_has_word_tabs_valued_sliders_and_steps_the_model(rendered):
    model, rc = rendered
    assert [b.children for b in rc.find(v.Btn).widgets] == [["Reset"], ["▶"], ["Step"]]
    assert [t.children for t in rc.find(v.Tab).widgets] == [[label] for label in app.TABS]
    assert {"schools per district: 8", "teachers per school: 15", "seed: 42"} <= set(slider_labels(rc))
    assert rc.find(v.Select).widget.v_model == "dongcheng_2021"
    assert year_counter(rc) == f"Year 0 of {model.config.run.years}"
    first = images(rc)
    assert len(first) == 1 and first[0].startswith(b"\x89PNG")  # the network map; the other tabs are lazy
    click(rc, "Step")
    assert model.year == 1 and model.latest["rotations"] > 0
    assert year_counter(rc) == f"Year 1 of {model.config.run.years}"
    after = images(rc)
    assert len(after) == 1 and after[0] != first[0]  # the map redrawn for year 1
    click(rc, "Step")
    assert model.year == 2
    assert model.tidy_metrics()["year"].max() == 2


def test_each_figure_is_drawn_once_per_year_not_on_every_rerender(rendered, monkeypatch):
    model, rc = rendered
    calls = []
    network_map = plots.network_map
    monkeypatch.setattr(plots, "network_map", lambda *a, **k: calls.append(1) or network_map(*a, **k))
    seed = next(s for s in rc.find(v.Slider).widgets if s.label.startswith("seed"))
    seed.v_model = 7  # re-renders the sidebar and the page
    assert "seed: 7" in slider_labels(rc)
    assert calls == []
    click(rc, "Step")
    assert len(calls) == 1


def test_the_curves_have_whole_year_ticks_over_the_whole_run():
    model = app.ExplorerModel(**SMALL)
    for _ in range(3):
        model.step()
    for draw in (app.draw_cv, app.draw_activity):
        fig = draw(model)
        fig.canvas.draw()
        for ax in fig.axes:
            ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
            assert ticks and all(t == int(t) for t in ticks), (draw.__name__, ticks)  # no 0.5
            assert ax.get_xlim()[0] <= 0 and ax.get_xlim()[1] >= model.config.run.years
        plots.plt.close(fig)


def test_reset_builds_the_chosen_scenario(rendered):
    model, rc = rendered
    rc.find(v.Select).widget.v_model = "japan_prefectural"
    slider = next(s for s in rc.find(v.Slider).widgets if s.label.startswith("schools per district"))
    slider.v_model = 6
    click(rc, "Reset")
    kwargs, made = Spy.made[-1]
    assert kwargs["scenario_name"] == "japan_prefectural" and kwargs["schools_per_district"] == 6
    assert made.config.name == "japan_prefectural" and made.world.n_schools == 6 * kwargs["districts"]
    assert made is not model and made.year == 0
    assert year_counter(rc) == f"Year 0 of {made.config.run.years}"
    click(rc, "Step")
    assert made.year == 1 and model.year == 0


def test_page_component_for_solara_run():
    box, rc = solara.render(app.Page(), handle_error=False)
    try:
        assert len(images(rc)) == 1
    finally:
        rc.close()
