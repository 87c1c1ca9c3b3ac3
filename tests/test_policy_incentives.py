"""Incentives (dormitories, allowance, the title rule) and hiring placement.

Most checks run small worlds (20 schools of about 30 teachers per district) for 1-3 years and
watch the model from the inside by wrapping library functions (`RotationProgram.apply`,
`Constraints.options`, the matchers, the classrooms) with spies that record the state at the
moment a rule is applied and then call the original unchanged. Expected values are recomputed
in the test from the rule as docs/sources.md and the schema state it, not from the code under test.
(Helpers: tests/policy_helpers.py.)
"""

from __future__ import annotations

import numpy as np
from conftest import metric_series, moves_of_kind
from policy_helpers import (
    HIRE,
    SMALL,
    SMALL3,
    WEAK,
    build,
    leader_of_group,
)

from sim.codes import SENIOR_TITLE, TIERS
from sim.core.model import RotationModel

# ------------------------------------------------------------------------------- 11. incentives


DORM_PROGRAM = {"name": "far", "quota": {"share_of_eligible": 0.3}, "scope": "city", "matching": "random",
                "eligibility": {"min_years_at_school": 3}}


def _dorm_model(beds: int, allowance: float = 0.0) -> RotationModel:
    return build(DORM_PROGRAM, world=SMALL3, seed=5, careers={"dissatisfaction_commute_minutes": 30},
                 policy={"dormitories_per_district": beds, "dormitory_commute_minutes": 15, "allowance": allowance})


def test_dormitory_beds_are_capped_per_district_and_set_the_commute():
    model = _dorm_model(3)
    s = model.world.schools
    for _ in range(2):
        model.step()
        wf = model.workforce
        beds = np.flatnonzero(wf.active & wf.dormitory)
        assert len(beds) > 0
        assert np.all(wf.term_end[beds] >= 0), "only rotators get beds"
        per_district = np.bincount(s["district"][wf.host[beds]], minlength=len(model.world.district_names))
        assert per_district.max() <= 3
        np.testing.assert_allclose(wf.commute[beds], 15.0)


def test_dormitories_raise_rotators_satisfaction():
    """Year 1 is identical up to the commute and satisfaction update (beds change nothing earlier),
    so the same teachers rotate; with beds their mean satisfaction is strictly higher and nobody's
    is lower."""
    with_beds, without = _dorm_model(20), _dorm_model(0)
    with_beds.step()
    without.step()
    wa, wb = with_beds.workforce, without.workforce
    rot = np.flatnonzero(wa.active & (wa.term_end >= 0))
    np.testing.assert_array_equal(rot, np.flatnonzero(wb.active & (wb.term_end >= 0)))
    assert np.all(wa.satisfaction[rot] >= wb.satisfaction[rot] - 1e-12)
    assert wa.satisfaction[rot].mean() > wb.satisfaction[rot].mean()


def test_allowance_adds_to_rotators_satisfaction():
    paid, unpaid = _dorm_model(0, allowance=0.1), _dorm_model(0)
    paid.step()
    unpaid.step()
    wa, wb = paid.workforce, unpaid.workforce
    act = np.flatnonzero(wa.active)
    rot = act[wa.term_end[act] >= 0]
    stay = act[wa.term_end[act] < 0]
    assert len(rot) > 20
    inside = rot[wb.satisfaction[rot] > 0]  # not clipped at 0 without the allowance
    np.testing.assert_allclose(wa.satisfaction[inside], np.minimum(1.0, wb.satisfaction[inside] + 0.1), atol=1e-12)
    assert np.all(wa.satisfaction[rot] <= wb.satisfaction[rot] + 0.1 + 1e-12)
    np.testing.assert_array_equal(wa.satisfaction[stay], wb.satisfaction[stay])


def _senior_promotions(need: int) -> list[tuple[int, int]]:
    """(row, hardship years) of every step to a senior title in three years."""
    model = build(DORM_PROGRAM, world=SMALL3, seed=7, policy={"title_requires_rotation_years": need})
    out = []
    for _ in range(3):
        before = model.workforce.title.copy()
        model.step()
        wf = model.workforce
        up = np.flatnonzero((before == SENIOR_TITLE - 1) & (wf.title[: len(before)] == SENIOR_TITLE))
        out += [(int(r), int(wf.hardship_years[r])) for r in up]
    return out


def test_senior_title_requires_years_of_rotation_or_hardship():
    promoted = _senior_promotions(2)
    assert promoted, "some teachers still reach a senior title"
    assert all(h >= 2 for _, h in promoted), [p for p in promoted if p[1] < 2]
    # without the rule the same seed promotes teachers short of 2 hardship years: the rule binds
    assert any(h < 2 for _, h in _senior_promotions(0))


# ------------------------------------------------------------------------- 12. hiring placement


def _hiring(placement: str, seed: int = 1, **careers) -> RotationModel:
    model = build(world=SMALL3, seed=seed, careers={"hire_placement": placement, "hire_fill_urban": 0.5,
                                                     "hire_fill_rural": 0.5, **careers})
    model.step()
    return model


def test_weak_first_fills_weak_and_rural_vacancies_before_others():
    weak_first, spread = _hiring("weak_first"), _hiring("vacancies")
    s = weak_first.world.schools
    weak = s["tier"] <= WEAK

    def vacancies(model):
        return np.maximum(s["norm"] - model.home_posts(), 0)

    assert metric_series(weak_first, "hires")[1] == metric_series(spread, "hires")[1] > 0
    assert vacancies(weak_first)[weak].sum() <= vacancies(spread)[weak].sum()
    assert vacancies(weak_first)[weak].sum() < vacancies(spread)[weak].sum()  # half-filling leaves a gap to close
    # tier by tier within each district (its recruits): a school is hired for only when every
    # weaker school of its district is full
    hires = np.bincount([mv[3] for mv in moves_of_kind(weak_first, "hire")], minlength=len(s["tier"]))
    vac_after = vacancies(weak_first)
    checked = 0
    for d in range(len(weak_first.world.district_names)):
        mine = s["district"] == d
        for t in range(len(TIERS)):
            if np.any(hires[mine & (s["tier"] == t)] > 0):
                lower = mine & (s["tier"] < t)
                assert np.all(vac_after[lower] == 0), f"district {d}: {TIERS[t]} hired before weaker schools were full"
                checked += lower.sum()
    assert checked > 0


def test_training_first_hires_start_at_their_groups_leading_school():
    model = build(world=SMALL, seed=2, careers={"hire_placement": "training_first", "training_years": 2})
    s = model.world.schools
    leaders = leader_of_group(model)
    trained = {}
    for year in (1, 2, 3):
        model.step()
        wf = model.workforce
        for mv in (m for m in model.moves if m[0] == year and m[4] == HIRE):
            r, host = mv[1], mv[3]
            post = int(wf.school[r])
            g = int(s["group"][post])
            if g >= 0 and leaders[g] != post:
                assert host == leaders[g] and wf.host[r] == leaders[g]
                assert wf.term_end[r] == year + 2
                trained[r] = (year, post, host)
            else:
                assert host == post and wf.term_end[r] == -1
    assert len(trained) > 3
    returns = {mv[1]: mv for mv in moves_of_kind(model, "return")}
    for r, (year, post, host) in trained.items():
        if year == 1 and model.workforce.active[r]:
            assert r in returns and returns[r][0] == 3 and returns[r][2:4] == (host, post)
