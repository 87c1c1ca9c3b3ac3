"""Scopes: twinning pairs, a pilot school district, and the rotations_by_scope count.

Most checks run small worlds (20 schools of about 30 teachers per district) for 1-3 years and
watch the model from the inside by wrapping library functions (`RotationProgram.apply`,
`Constraints.options`, the matchers, the classrooms) with spies that record the state at the
moment a rule is applied and then call the original unchanged. Expected values are recomputed
in the test from the rule as docs/sources.md and the schema state it, not from the code under test.
(Helpers: tests/policy_helpers.py.)
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from conftest import metric_series, moves_by_year, moves_of_kind
from policy_helpers import (
    DONGCHENG_2021,
    SMALL,
    SMALL_BEIJING,
    build,
    partners,
    record_applies,
    record_options,
)

from sim.config.scenario import load_scenario, scenario_from_dict
from sim.core.model import RotationModel
from sim.policies.eligibility import eligible_mask

# ---------------------------------------------------------------------------- 4. twinning scope


def test_twinning_scope_sends_every_rotator_to_a_twin_partner():
    model = build({"name": "pairs", "eligibility": {"twinned_only": True}, "quota": {"share_of_eligible": 0.3},
                   "scope": "twinning", "matching": "random"}, policy={"receiving_capacity": 2.0}, seed=1)
    model.run_for(2)
    moves = moves_of_kind(model, "rotation")
    assert len(moves) > 10
    for mv in moves:
        assert mv[3] in partners(model, mv[2]), f"move {mv[2]}->{mv[3]} is not between twins"
    counts = metric_series(model, "rotations_by_scope", "twinning_pair")
    assert counts[1] + counts[2] == len(moves)


def test_twinned_only_restricts_eligibility_to_paired_schools():
    world = {**SMALL, "twinning_pairs_per_district": 4}
    model = build({"name": "d", "eligibility": {"twinned_only": True}, "quota": {"share_of_eligible": 0.5},
                   "scope": "district"}, world=world, policy={"receiving_capacity": 2.0}, seed=1)
    paired = set(model.world.twinning.ravel().tolist())
    assert len(paired) == 8 < model.world.n_schools
    cfg = model.config.policy.programs[0]
    wf = model.workforce
    only = eligible_mask(model, cfg.eligibility)
    every = eligible_mask(model, cfg.eligibility.model_copy(update={"twinned_only": False}))
    assert only.any() and set(wf.school[only].tolist()) <= paired
    assert set(wf.school[every].tolist()) - paired, "unpaired schools have eligible teachers to exclude"
    np.testing.assert_array_equal(only, every & np.isin(wf.school, sorted(paired)))
    model.run_for(2)
    moves = moves_of_kind(model, "rotation")
    assert len(moves) > 10
    assert {mv[2] for mv in moves} <= paired


@pytest.mark.parametrize("matching", ["random", "need", "optimal"])
def test_prefer_twinning_sends_to_the_partner_whenever_it_is_feasible(monkeypatch, matching):
    calls = record_options(monkeypatch)
    log = record_applies(monkeypatch)
    model = build({"name": "d", "quota": {"share_of_eligible": 0.4}, "scope": "district", "prefer": ["twinning"],
                   "matching": matching}, seed=6)
    model.run_for(2)
    offered = {}
    to_partner = 0
    for c in calls:
        assert set(c.got.tolist()) == set(c.want.tolist()), (c.row, c.got, c.want)
        offered[(c.year, c.row)] = c.got
    for app in log:
        for year, r, frm, to, *_ in app.moves:
            got = offered[(year, r)]
            assert to in got
            feasible_twins = set(got.tolist()) & partners(model, frm)
            if feasible_twins:
                assert to in feasible_twins
                to_partner += 1
    assert to_partner > 10
    # and some rotators went elsewhere because no partner was feasible: the rule is not "twins only"
    assert any(mv[3] not in partners(model, mv[2]) for mv in moves_of_kind(model, "rotation"))


def test_pilot_school_district_moves_only_its_own_teachers():
    model = build({"name": "pilot", "eligibility": {"school_districts": ["Dongcheng-SD3"]},
                   "quota": {"share_of_eligible": 0.6}, "scope": "school_district", "matching": "random"},
                  policy={"receiving_capacity": 2.0}, seed=2)
    s = model.world.schools
    sd = model.world.school_district_names.index("Dongcheng-SD3")
    assert 0 < np.sum(s["school_district"] == sd) < model.world.n_schools
    cfg = model.config.policy.programs[0]
    every = eligible_mask(model, cfg.eligibility.model_copy(update={"school_districts": None}))
    assert np.any(s["school_district"][model.workforce.school[every]] != sd)
    model.run_for(2)
    moves = moves_of_kind(model, "rotation")
    assert len(moves) > 3
    for mv in moves:
        assert s["school_district"][mv[2]] == sd and s["school_district"][mv[3]] == sd


def _scope_recount(model, moves) -> dict[str, int]:
    s = model.world.schools
    twins = {(int(a), int(b)) for a, b in model.world.twinning.tolist()}
    out = Counter({k: 0 for k in ("within_group", "cross_group", "within_school_district",
                                  "cross_school_district", "cross_district", "twinning_pair")})
    for mv in moves:
        a, b = mv[2], mv[3]
        same_group = s["group"][a] >= 0 and s["group"][a] == s["group"][b]
        out["within_group" if same_group else "cross_group"] += 1
        if s["district"][a] != s["district"][b]:
            out["cross_district"] += 1
        elif s["school_district"][a] == s["school_district"][b]:
            out["within_school_district"] += 1
        else:
            out["cross_school_district"] += 1
        out["twinning_pair"] += (a, b) in twins or (b, a) in twins
    return out


def test_rotations_by_scope_agrees_with_a_recount_of_the_moves():
    sc = load_scenario(DONGCHENG_2021, list(SMALL_BEIJING))
    data = sc.model_dump(mode="json")
    data["policy"]["programs"].append({"name": "citywide", "quota": {"share_of_eligible": 0.1}, "scope": "city",
                                       "matching": "random", "eligibility": {"min_years_at_school": 3}})
    model = RotationModel(scenario_from_dict(data), rng=8)
    model.run_for(3)
    per_year = moves_by_year(model, "rotation")
    seen = Counter()
    for year in (1, 2, 3):
        want = _scope_recount(model, per_year[year])
        for group, n in want.items():
            assert metric_series(model, "rotations_by_scope", group)[year] == n, (year, group)
            seen[group] += n
    assert all(seen[g] > 0 for g in want), seen  # every group is exercised
