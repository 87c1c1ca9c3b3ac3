"""The SolaraViz app (sim/app.py): the page is built and rendered, and its controls drive the model."""

from __future__ import annotations

import ipyvuetify as v
import ipywidgets
import pytest
import solara

from sim import app


class Spy(app.ExplorerModel):
    """Records every model SolaraViz makes (it re-creates the model's own class on reset)."""

    made: list = []

    def __init__(self, scenario_name: str = app.DEFAULT_SCENARIO, schools_per_district: int = 16,
                 teachers_per_school: int = 25, districts: int = 3, rng: int = 42):
        kwargs = {"scenario_name": scenario_name, "schools_per_district": schools_per_district,
                  "teachers_per_school": teachers_per_school, "districts": districts, "rng": rng}
        super().__init__(**kwargs)  # named parameters: with **kwargs SolaraViz would pass `scenario=`
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


def test_page_is_a_solaraviz_element_with_our_components():
    model = app.ExplorerModel(**SMALL)
    page = app.make_page(model)
    assert page.component.name == "SolaraViz"
    assert page.kwargs["name"] == "teachersim explorer"
    assert [c for c, _ in page.kwargs["components"][:2]] == [app.NetworkView, app.CVView]
    params = page.kwargs["model_params"]
    assert set(params) == {"scenario_name", "schools_per_district", "teachers_per_school", "districts", "rng"}
    assert "dongcheng_2021" in params["scenario_name"]["values"] and "_base" not in params["scenario_name"]["values"]
    assert page.args[0] is model


def test_the_model_is_a_small_world_with_scaled_quotas():
    model = app.ExplorerModel(scenario_name="dongcheng_2021", **SMALL)
    assert model.world.n_schools == 8
    exchange = next(p for p in model.config.policy.programs if p.name == "district_exchange")
    assert 1 <= exchange.quota.min_count < 2000  # 2,000 per 8,800 teachers, scaled to about 120
    beijing = app.ExplorerModel(scenario_name="japan_prefectural", districts=2, **SMALL)
    assert beijing.world.district_names == ["Dongcheng", "Xicheng"]


def test_rendered_page_has_controls_and_figures_and_steps_the_model(rendered):
    model, rc = rendered
    assert [b.children for b in rc.find(v.Btn).widgets] == [["Reset"], ["▶"], ["Step"]]
    labels = [s.label for s in rc.find(v.Slider).widgets]
    assert {"schools per district", "teachers per school", "seed"} <= set(labels)
    assert rc.find(v.Select).widget.v_model == "dongcheng_2021"
    first = images(rc)
    assert len(first) == 2 and all(img.startswith(b"\x89PNG") for img in first)  # network map, CV curves
    rc.find(v.Btn, children=["Step"]).widget.click()
    assert model.year == 1
    assert model.latest["rotations"] > 0
    after = images(rc)
    assert len(after) == 2 and after[0] != first[0] and after[1] != first[1]  # both figures redrawn
    rc.find(v.Btn, children=["Step"]).widget.click()
    assert model.year == 2
    assert model.tidy_metrics()["year"].max() == 2


def test_reset_builds_the_chosen_scenario(rendered):
    model, rc = rendered
    rc.find(v.Select).widget.v_model = "japan_prefectural"
    slider = next(s for s in rc.find(v.Slider).widgets if s.label == "schools per district")
    slider.v_model = 6
    rc.find(v.Btn, children=["Reset"]).widget.click()
    kwargs, made = Spy.made[-1]
    assert kwargs["scenario_name"] == "japan_prefectural" and kwargs["schools_per_district"] == 6
    assert made.config.name == "japan_prefectural" and made.world.n_schools == 6 * kwargs["districts"]
    assert made is not model and made.year == 0


def test_page_component_for_solara_run():
    box, rc = solara.render(app.Page(), handle_error=False)
    try:
        assert len(images(rc)) == 2
    finally:
        rc.close()
