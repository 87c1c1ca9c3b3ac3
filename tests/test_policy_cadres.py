"""Cadre rules: the leadership cap and mandatory tenure under both selectors.

Most checks run small worlds (20 schools of about 30 teachers per district) for 1-3 years and
watch the model from the inside by wrapping library functions (`RotationProgram.apply`,
`Constraints.options`, the matchers, the classrooms) with spies that record the state at the
moment a rule is applied and then call the original unchanged. Expected values are recomputed
in the test from the rule as docs/sources.md and the schema state it, not from the code under test.
(Helpers: tests/policy_helpers.py.)
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from policy_helpers import (
    SMALL3,
    build,
    record_applies,
)

from sim.policies import DistrictSelection, SchoolSelection
from sim.policies.eligibility import eligible_mask

# ------------------------------------------------------------------------------- 6. cadre rules


def _cadre_moves_per_school(log) -> list[tuple[int, int, int, int]]:
    """(year, school, cadres moved from it, cadres it had at selection) for every school and year."""
    out = []
    for app in log:
        cadres = np.bincount(app.before["school"][app.before["active"] & (app.before["role"] > 0)],
                             minlength=len(app.present))
        moved = Counter(int(app.before["school"][mv[1]]) for mv in app.moves if app.before["role"][mv[1]] > 0)
        out += [(app.year, s, moved.get(s, 0), int(cadres[s])) for s in range(len(cadres))]
    return out


def test_leadership_cap_limits_cadres_leaving_a_school(monkeypatch):
    program = {"name": "all", "eligibility": {"min_years_at_school": 2}, "quota": {"share_of_eligible": 1.0},
               "scope": "district", "matching": "random", "leadership_cap": 0.3}
    log = record_applies(monkeypatch)
    build(program, world=SMALL3, policy={"receiving_capacity": 3.0}, seed=1).run_for(2)
    rows = _cadre_moves_per_school(log)
    assert sum(r[2] for r in rows) > 20
    for year, school, moved, cadres in rows:
        assert moved <= max(1, math.floor(0.3 * cadres)), (year, school, moved, cadres)
    # without the cap the same seed sends more than that from some school: the cap binds
    log.clear()
    build({**program, "leadership_cap": 1.0}, world=SMALL3, policy={"receiving_capacity": 3.0}, seed=1).run_for(2)
    assert any(moved > max(1, math.floor(0.3 * cadres)) for _, _, moved, cadres in _cadre_moves_per_school(log))


@pytest.mark.parametrize("selection", ["district", "school"])
def test_principals_move_when_past_the_mandatory_tenure(monkeypatch, selection):
    """Teachers past a mandatory tenure are selected first, whoever selects (the selection module's
    rule); with no other quota rule exactly they are selected, and with ample room all move."""
    program = {"name": "principals", "eligibility": {"roles": ["principal"], "min_years_at_school": 6},
               "quota": {"mandatory_after_years": 9}, "scope": "district", "matching": "need",
               "selection": selection}
    log = record_applies(monkeypatch)
    build(program, world=SMALL3, policy={"receiving_capacity": 3.0}, seed=2).run_for(3)
    total = 0
    for app in log:
        b = app.before
        must = set(np.flatnonzero(app.eligible & (b["years_at_school"] >= 9)).tolist())
        moved = {mv[1] for mv in app.moves}
        assert all(b["role"][r] == 1 for r in moved)
        assert app.result["unmatched"] == 0  # ample room (capacity 3): every principal finds a host
        assert must <= moved, f"year {app.year}: principals past 9 years not moved: {sorted(must - moved)}"
        # the only quota rule is the mandatory one, so nobody below 9 years is moved
        assert moved <= must, sorted(moved - must)
        total += len(moved)
    assert total > 5
    assert any(np.any(app.eligible & (app.before["years_at_school"] < 9)) for app in log)


def _mandatory_selected(selection: str, seed: int, **program) -> tuple[set[int], set[int]]:
    """(teachers past the mandatory tenure, teachers selected) in year 1 on one district."""
    model = build({"name": "m", "selection": selection, **program}, seed=seed)
    model.year = 1
    cfg = model.config.policy.programs[0]
    eligible = eligible_mask(model, cfg.eligibility)
    selector = DistrictSelection() if selection == "district" else SchoolSelection()
    chosen = selector.select(model, cfg, eligible, np.random.default_rng(seed))
    tenure = cfg.quota.mandatory_after_years
    return set(np.flatnonzero(eligible & (model.workforce.years_at_school >= tenure)).tolist()), set(chosen.tolist())


def test_school_selection_selects_every_principal_past_the_mandatory_tenure():
    """When sending schools select, a principal past the mandatory tenure must still be selected:
    the quota is exactly the mandatory count, so it has to go to those teachers, not be spread
    over schools in proportion to their eligible staff."""
    must, chosen = _mandatory_selected("school", 1, eligibility={"roles": ["principal"], "min_years_at_school": 6},
                                       quota={"mandatory_after_years": 9})
    assert must, "some principal is past 9 years"
    assert must <= chosen, f"not selected though past the mandatory tenure: {sorted(must - chosen)}"


def test_school_selection_with_nobody_due_in_a_district_selects_nobody_there():
    """A district whose quota comes to zero (here: nobody past the mandatory tenure and no other
    rule) contributes no rotators; the other districts still select theirs."""
    model = build({"name": "m", "selection": "school", "quota": {"mandatory_after_years": 9},
                   "eligibility": {"roles": ["principal"], "min_years_at_school": 6}}, world=SMALL3, seed=0)
    model.year = 1
    wf = model.workforce
    district = model.world.schools["district"][wf.school]
    principals = np.flatnonzero(wf.active & (wf.role == 1))
    wf.years_at_school[principals] = np.where(district[principals] == 0, 7, 10)  # eligible everywhere, due outside 0
    cfg = model.config.policy.programs[0]
    eligible = eligible_mask(model, cfg.eligibility)
    assert np.any(eligible & (district == 0))
    chosen = SchoolSelection().select(model, cfg, eligible, np.random.default_rng(0))
    assert not np.any(district[chosen] == 0)
    assert set(chosen.tolist()) == set(np.flatnonzero(eligible & (district != 0)).tolist())


def test_mandatory_tenure_is_not_traded_for_the_backbone_floor():
    """A backbone floor is a minimum share of the rotators; it may add backbone teachers but must
    not swap out teachers who must move (Japan: must move at 6; the selection rule: teachers past
    a mandatory tenure are selected first)."""
    must, chosen = _mandatory_selected("district", 0, eligibility={"min_years_at_school": 3},
                                       quota={"mandatory_after_years": 12}, backbone_floor=0.3,
                                       priority=["youngest_first"])
    assert len(must) > 50
    assert must <= chosen, f"{len(must - chosen)} teachers past the mandatory tenure were swapped out"
