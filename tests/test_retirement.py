"""Retirement by sex and birth month (sim/world/retirement.py; careers.retirement).

Before, everyone retired at 60 and eligibility's "more than 5 years before retirement" counted
from 60 for women too, although women teachers retire at 55 (raised from 2025 to 58).
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.config.scenario import RAISED_TO, ScenarioError, load_scenario
from sim.core.model import RotationModel
from sim.world import retirement
from tests.conftest import BASELINE, DONGCHENG, SMALL_DONGCHENG, moves_by_year, scenario


def statutory(born: str, original: int) -> tuple[int, int]:
    months = retirement.statutory_months(np.array([retirement.month_index(born)]), np.array([original]),
                                         "china_2024")[0]
    return int(months // 12), int(months % 12)


@pytest.mark.parametrize(("born", "original", "expected"), [
    # the decision's table: the rise starts with those born in January 1965 (men), 1970 (women at
    # 55) and 1975 (women at 50), one month at a time
    ("1964-12", 60, (60, 0)), ("1965-01", 60, (60, 1)), ("1965-04", 60, (60, 1)), ("1965-05", 60, (60, 2)),
    ("1976-08", 60, (62, 11)), ("1976-09", 60, (63, 0)), ("1990-06", 60, (63, 0)),
    ("1969-12", 55, (55, 0)), ("1970-01", 55, (55, 1)), ("1981-09", 55, (58, 0)), ("1995-01", 55, (58, 0)),
    ("1974-12", 50, (50, 0)), ("1975-01", 50, (50, 1)), ("1975-03", 50, (50, 2)), ("1984-11", 50, (55, 0)),
])
def test_the_table_follows_the_2024_decision(born, original, expected):
    """Men and women of original age 55: one month later for every four months of birth, to 63
    and 58; women of original age 50: every two months, to 55 (sources.md: NPC-2024)."""
    assert statutory(born, original) == expected


def test_the_table_ends_at_the_ages_the_schema_knows():
    """The schema's RAISED_TO (used to refuse rules nobody could meet) agrees with the table."""
    assert {original: int(ages[-1]) // 12 for original, (_, ages) in retirement.schedule().items()} == RAISED_TO


def test_a_teachers_year_of_retirement_comes_from_sex_and_birth_month():
    cfg = scenario(BASELINE).careers.retirement
    # a man born in September 1975 is 46 on 1 September 2021; 128 months after January 1965, he
    # retires 33 months late, at 62 years 9 months (June 2038): in the school year from September
    # 2038, year 17; without the rise at 60 (September 2035), year 14
    man = np.array([46]), np.array([9]), np.array([False])
    assert retirement.retirement_year(cfg, 0, 2021, *man).tolist() == [17]
    fixed = cfg.model_copy(update={"schedule": "fixed"})
    assert retirement.retirement_year(fixed, 0, 2021, *man).tolist() == [14]
    # a woman born in May 1971 (50 in 2021; 16 months after January 1970) retires at 55 years 5
    # months, October 2026: year 6 (September 2027); born in January 1971, at 55 years 4 months,
    # May 2026: year 5
    women = np.array([50, 50]), np.array([5, 1]), np.array([True, True])
    assert retirement.retirement_year(cfg, 0, 2021, *women).tolist() == [6, 5]


def moved_out(model, kind: str) -> np.ndarray:
    """Mask of the rows that left by a move of this kind this year."""
    out = np.zeros(model.workforce.n, dtype=bool)
    out[[mv[1] for mv in moves_by_year(model, kind)[model.year]]] = True
    return out


def test_women_retire_at_their_own_age_in_a_run():
    """Year by year, every retiring woman is 55 or a little more (the rise adds months from the
    cohort born in 1970), every man 60 or a little more; nobody stays past the age."""
    model = RotationModel(scenario(BASELINE, *SMALL_DONGCHENG, "run.years=6"), rng=2)
    wf = model.workforce
    seen = {True: set(), False: set()}
    for _ in range(6):
        before = wf.active.copy()
        model.step()
        n = len(before)
        gone = np.flatnonzero(before & ~wf.active[:n] & moved_out(model, "retirement")[:n])
        for r in gone:
            seen[bool(wf.woman[r])].add(int(wf.age[r]))
        still = wf.active & (retirement.age_in_months(wf.age, wf.birth_month) >= wf.retire_months)
        assert not np.any(still)
    assert seen[True] and seen[True] <= {55, 56}
    assert seen[False] and seen[False] <= {60, 61}


def test_eligibility_counts_years_to_each_teachers_own_retirement():
    """Without the rise (schedule fixed), a woman of 50 has five years left (she retires at 55):
    not "more than 5 years before retirement"; a man of 50 has ten."""
    model = RotationModel(scenario(DONGCHENG, *SMALL_DONGCHENG, "careers.retirement.schedule=fixed"), rng=1)
    from sim.policies.eligibility import eligible_mask

    wf = model.workforce
    mask = eligible_mask(model, model.config.policy.programs[0].eligibility)
    long_tenure = wf.active & (wf.years_at_school >= 6) & (wf.age == 50) & (wf.role == 0)
    women, men = long_tenure & wf.woman, long_tenure & ~wf.woman
    assert women.any() and men.any()
    assert not mask[women].any()
    assert mask[men].all()


def test_the_synthetic_staff_are_younger_than_their_retirement_age_and_mostly_women():
    model = RotationModel(scenario(BASELINE), rng=0)
    wf = model.workforce
    assert wf.age[wf.woman].max() <= 54 and wf.age[~wf.woman].max() <= 59
    primary, junior = wf.level == 0, wf.level == 1
    # sources.md: MOE-STATS, about 70% of primary and 60% of junior-middle teachers are women
    assert wf.woman[primary].mean() == pytest.approx(0.7, abs=0.03)
    assert wf.woman[junior].mean() == pytest.approx(0.6, abs=0.03)


def test_a_schedule_the_table_does_not_have_is_one_line():
    with pytest.raises(ScenarioError, match=r"careers\.retirement: .*use schedule: fixed"):
        load_scenario(BASELINE, ["careers.retirement.women_age=57"])
    fixed = load_scenario(BASELINE, ["careers.retirement.schedule=fixed", "careers.retirement.women_age=57"])
    assert fixed.careers.retirement.women_age == 57
