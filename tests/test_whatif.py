"""sim.experiments.whatif: small worlds with scaled quotas, one lever at a time, first years under a limit."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import SCENARIOS

from sim.config.scenario import ScenarioError, load_scenario
from sim.experiments.whatif import LEVERS, first_year_below, small_world, vary

DONGCHENG = SCENARIOS / "dongcheng_2021.yaml"


def test_small_world_scales_head_count_quotas_to_its_size():
    sc = small_world(DONGCHENG, schools_per_district=20, teachers_per_school=30)
    assert sc.world.schools_per_district == 20 and sc.world.teachers_per_school == 30
    exchange = sc.policy.programs[3]
    assert exchange.name == "district_exchange"
    assert exchange.quota.min_count == round(2000 * 600 / 8800)  # 2,000 of 8,800 teachers -> of 600
    assert [p.quota.min_count for p in sc.policy.programs[:3]] == [0, 0, 0]  # share quotas untouched
    assert exchange.quota.coverage_years == 3
    beijing = small_world(SCENARIOS / "japan_prefectural.yaml", 10, 20, districts=2)
    assert beijing.world.districts == 2 and beijing.world.scale == 1.0
    # overrides come last and are not scaled
    sc = small_world(DONGCHENG, 20, 30, overrides=["policy.programs.3.quota.min_count=7"])
    assert sc.policy.programs[3].quota.min_count == 7


@pytest.mark.parametrize(("lever", "value", "path"), [
    ("quota", 99, lambda s: s.policy.programs[3].quota.min_count),
    ("years_before_eligibility", 3, lambda s: s.policy.programs[3].eligibility.min_years_at_school),
    ("matching", "random", lambda s: s.policy.programs[3].matching),
    ("double_teacher_classrooms", 0, lambda s: s.policy.double_teacher.classrooms),
    ("dormitories", 50, lambda s: s.policy.dormitories_per_district),
])
def test_vary_changes_one_lever_and_nothing_else(lever, value, path):
    base = small_world(DONGCHENG, 20, 30)
    changed = vary(base, lever, value)
    assert path(changed) == value and path(base) != value
    assert changed.name == f"dongcheng_2021.{lever}-{value}"
    a, b = base.model_dump(), changed.model_dump()
    a.pop("name"), b.pop("name")
    assert a != b
    assert LEVERS[lever].current(changed) == value


def test_full_time_share_splits_the_main_program():
    base = small_world(DONGCHENG, 20, 30)
    half = vary(base, "full_time_share", 0.25)
    names = [p.name for p in half.policy.programs]
    assert names[3:] == ["district_exchange_part_time", "district_exchange"]
    part, full = half.policy.programs[3], half.policy.programs[4]
    total = base.policy.programs[3].quota.min_count
    assert part.form == "part_time" and full.form == "full_time"
    assert full.quota.min_count == round(total * 0.25) and part.quota.min_count == total - full.quota.min_count
    assert part.quota.coverage_years is None and full.quota.coverage_years == 3
    assert [p.name for p in vary(base, "full_time_share", 1.0).policy.programs] == [p.name for p in
                                                                                    base.policy.programs]
    with pytest.raises(ScenarioError):
        vary(base, "full_time_share", 1.5)
    with pytest.raises(ScenarioError):
        vary(load_scenario(SCENARIOS / "baseline_drift.yaml"), "quota", 10)  # no program to act on
    with pytest.raises(ScenarioError):
        vary(base, "no_such_lever", 1)


def test_first_year_below_and_for_good():
    t = pd.DataFrame({"metric": "cv_backbone", "group": "primary",
                      "scenario": ["a"] * 4 + ["b"] * 4 + ["c"] * 4, "year": [0, 1, 2, 3] * 3,
                      "mean": [0.9, 0.4, 0.6, 0.45, 0.9, 0.8, 0.7, 0.6, 0.9, 0.5, 0.3, 0.2]})
    assert first_year_below(t, "cv_backbone", "primary", 0.5) == {"a": 1, "b": None, "c": 1}
    assert first_year_below(t, "cv_backbone", "primary", 0.5, for_good=True) == {"a": 3, "b": None, "c": 1}
