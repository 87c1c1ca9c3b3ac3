"""The EMA Workbench adapter with the real EMA Workbench: experiments, PRIM, and sweep folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ema_workbench import Sample, SequentialEvaluator, perform_experiments
from ema_workbench.analysis import prim
from sweep_helpers import write_sweep

from sim.config.scenario import ScenarioError
from sim.experiments.ema import ema_model, evaluate, sweep_results
from sim.experiments.run import sweep

REPO = Path(__file__).resolve().parents[1]
EXCHANGE = REPO / "tests" / "data" / "exchange.yaml"
SMALL = ["world.schools_per_district=12", "world.teachers_per_school=12"]
QUOTA = "policy.programs.district_exchange.quota.min_count"


@pytest.fixture(scope="module")
def experiments():
    model = ema_model(EXCHANGE, uncertainties={"careers.drift_rate": (0.0, 0.3)}, levers={QUOTA: (5, 60)},
                      outcomes=["cv_backbone:all", "rotations:all@1"], years=3, reps=2, overrides=SMALL)
    lever = f"l0_{QUOTA.replace('.', '_')}"
    policies = [Sample(f"quota {q}", **{lever: q}) for q in (5, 25, 60)]  # fixed: the test does not hang on LHS luck
    with SequentialEvaluator(model) as evaluator:
        return model, *perform_experiments(model, scenarios=6, policies=policies, evaluator=evaluator)


def test_perform_experiments_runs_the_model_by_scenario_paths(experiments):
    model, x, outcomes = experiments
    assert len(x) == 18 and set(outcomes) == {"cv_backbone__all__y3", "rotations__all__y1"}
    assert all(np.isfinite(v).all() and len(v) == 18 for v in outcomes.values())
    lever = f"l0_{QUOTA.replace('.', '_')}"
    assert model.teachersim_paths == {"u0_careers_drift_rate": "careers.drift_rate", lever: QUOTA}
    # the quota lever reaches the model: rotations never fall as the quota rises, and the largest
    # quota (above what the program's other rules ask) rotates more than the smallest
    by_policy = [outcomes["rotations__all__y1"][x[lever] == q].mean() for q in (5, 25, 60)]
    assert by_policy == sorted(by_policy) and by_policy[2] > by_policy[0]


def test_prim_finds_the_quota_behind_high_rotations(experiments):
    _, x, outcomes = experiments
    lever = f"l0_{QUOTA.replace('.', '_')}"
    y = outcomes["rotations__all__y1"] > np.median(outcomes["rotations__all__y1"])
    box = prim.Prim(x[["u0_careers_drift_rate", lever]], y).find_box()
    limits = box.box_lims[-1]
    assert limits[lever].iloc[0] > x[lever].min()  # the box asks for a larger quota


def test_experiments_share_seeds_so_equal_settings_give_equal_outcomes():
    wanted = [("rotations", "all", 2)]
    a = evaluate(EXCHANGE, SMALL, {QUOTA: 30}, wanted, 2, [11, 12])
    b = evaluate(EXCHANGE, SMALL, {QUOTA: 30}, wanted, 2, [11, 12])
    assert a == b


def test_a_path_that_is_no_scenario_field_is_refused_before_any_experiment():
    with pytest.raises(ScenarioError):
        ema_model(EXCHANGE, uncertainties={"careers.no_such_rate": (0.0, 1.0)}, overrides=SMALL)


def test_a_sweep_folder_reads_as_experiments_and_outcomes(tmp_path):
    path = write_sweep(tmp_path, parameters={"policy.programs.0.quota.min_count": {"values": [5, 40]}},
                       design={"kind": "grid"}, replicates=2, years=2)
    summary = sweep(path, tmp_path / "out", serial=True)
    assert summary.failed == 0
    x, outcomes = sweep_results(tmp_path / "out", ["rotations:all"])
    assert len(x) == 4 and set(x["replicate"]) == {0, 1}
    assert sorted(x["policy.programs.0.quota.min_count"].unique()) == [5, 40]
    rotations = outcomes["rotations__all__y2"]
    assert len(rotations) == 4 and np.isfinite(rotations).all()
    low = rotations[x["policy.programs.0.quota.min_count"] == 5].mean()
    high = rotations[x["policy.programs.0.quota.min_count"] == 40].mean()
    assert high > low
