"""RotationModel driven by Mesa's own tools without glue: batch_run, seeds, stopping, reporters,
and Mesa 4's experimental Scenario (what Mesa 3.5 already ships of it)."""

from __future__ import annotations

import warnings

import mesa
import numpy as np
import pandas as pd
import pytest
from conftest import DONGCHENG
from mesa.experimental.scenarios import Scenario as MesaScenario

from sim.config.scenario import ScenarioError, load_scenario
from sim.core.model import OFFICIAL_BY_LEVEL, RotationModel

SMALL = ["world.schools_per_district=12", "world.teachers_per_school=12", "run.years=3",
         "policy.programs.0.quota.min_count=10"]


@pytest.fixture(scope="module")
def small():
    return load_scenario(DONGCHENG, SMALL)


def batch(parameters, **kw) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # RunWarnings of tiny worlds, Mesa's deprecation of iterations
        return pd.DataFrame(mesa.batch_run(RotationModel, parameters=parameters, max_steps=50,
                                           display_progress=False, **kw))


def test_batch_run_over_two_settings_and_seeds(small):
    # hosts may take 15% over their norm: at the norm a world this small places only its few vacancies
    df = batch({"scenario": small, "run__years": 1, "careers__drift_rate": [0.0, 0.1],
                "policy__receiving_capacity": 1.15,
                "policy__programs__district_exchange__quota__min_count": [5, 40]}, rng=[1, 2])
    assert len(df) == 8
    assert set(df["Step"]) == {1}  # stopped by itself at run.years, not at max_steps
    assert {f"{m}_{lvl}" for m, lvl in OFFICIAL_BY_LEVEL} <= set(df.columns)
    assert df["cv_backbone_primary"].notna().all()
    # the quota setting reached the model: more rotations in the year, seed by seed
    for _, part in df.groupby(["rng", "careers__drift_rate"]):
        by_quota = part.set_index("policy__programs__district_exchange__quota__min_count")["rotations"]
        assert by_quota[40] > by_quota[5]


def test_iterations_give_distinct_replicates(small):
    df = batch({"scenario": small}, iterations=3)
    assert df["cv_backbone_primary"].nunique() == 3


def test_a_scenario_by_file_or_shipped_name_with_keyword_settings():
    model = RotationModel(str(DONGCHENG), rng=3, world__schools_per_district=12, world__teachers_per_school=12,
                          careers__drift_rate=0.07)
    assert model.config.careers.drift_rate == 0.07 and model.config.world.schools_per_district == 12
    shipped = RotationModel("dongcheng_2021", rng=3, world__scale=0.1)
    assert shipped.config.name == "dongcheng_2021"
    with pytest.raises(ScenarioError):
        RotationModel(str(DONGCHENG), careers__no_such_rate=1.0)


def test_running_turns_false_at_the_scenario_years(small):
    model = RotationModel(small, rng=4)
    steps = 0
    while model.running:
        model.step()
        steps += 1
    assert steps == 3 == model.year and model.steps == 3
    assert RotationModel(small, rng=4, years=1).years == 1


def test_a_seed_sequence_gives_the_same_run_as_its_seed(small):
    a = RotationModel(small, rng=np.random.SeedSequence(11))
    b = RotationModel(small, rng=a.seed)
    a.run_for(2)
    b.run_for(2)
    assert a.metric_rows == b.metric_rows


def test_mesa_4_scenario_object(small):
    model = RotationModel(scenario=MesaScenario(rng=9, file=str(DONGCHENG), world__schools_per_district=12,
                                                world__teachers_per_school=12, careers__drift_rate=0.02))
    assert model.seed == 9 and model.config.careers.drift_rate == 0.02
    model.run_for(1)
    assert model.datacollector.get_model_vars_dataframe()["cv_backbone_junior"].notna().all()
    with pytest.raises(TypeError, match="file="):
        RotationModel(scenario=MesaScenario(rng=1, careers__drift_rate=0.02))
