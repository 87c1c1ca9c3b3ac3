"""Eligibility rules: Japan's minimum stay, mandatory move, commute cap and remote minimum; age exemptions.

Most checks run small worlds (20 schools of about 30 teachers per district) for 1-3 years and
watch the model from the inside by wrapping library functions (`RotationProgram.apply`,
`Constraints.options`, the matchers, the classrooms) with spies that record the state at the
moment a rule is applied and then call the original unchanged. Expected values are recomputed
in the test from the rule as docs/sources.md and the schema state it, not from the code under test.
(Helpers: tests/policy_helpers.py.)
"""

from __future__ import annotations

import numpy as np
from conftest import moves_by_year
from policy_helpers import (
    RURAL,
    SCENARIOS,
    SMALL3,
    SMALL16,
    build,
    commute,
    record_applies,
)

from sim.config.scenario import load_scenario
from sim.core.model import RotationModel
from sim.policies.eligibility import eligible_mask

# ------------------------------------------------------------------------------- 9. Japan rules


def test_japan_minimum_stay_mandatory_move_commute_cap_and_remote_minimum(monkeypatch):
    log = record_applies(monkeypatch)
    overrides = ["world.scale=1", "world.schools_per_district=6", "world.teachers_per_school=30",
                 "policy.programs.0.eligibility.remote_min_years=5"]
    model = RotationModel(load_scenario(SCENARIOS / "japan_prefectural.yaml", overrides), rng=3)
    s = model.world.schools
    assert np.any(s["tier"] == RURAL)
    model.run_for(3)
    cap = 90.0
    n_moved = n_must = n_rural = 0
    for app in log:
        b = app.before
        moved = {mv[1] for mv in app.moves}
        for _, r, frm, to, *_ in app.moves:
            assert b["years_at_school"][r] >= 3, f"row {r} moved after {b['years_at_school'][r]} years"
            if s["tier"][frm] == RURAL:
                assert b["years_at_school"][r] >= 5, f"row {r} left a remote school after {b['years_at_school'][r]}"
                n_rural += 1
            assert commute(model, r, [to])[0] <= cap + 1e-9
        must = set(np.flatnonzero(app.eligible & (b["years_at_school"] >= 6)).tolist())
        assert len(must - moved) <= app.result["unmatched"], "a teacher past 6 years stayed without being unmatched"
        n_moved += len(moved)
        n_must += len(must)
    assert n_moved > 100 and n_must > 50 and n_rural > 0
    # the rules have something to exclude: short stays, remote stays of 3-4 years, far hosts
    first = log[0]
    b = first.before
    active = b["active"] & (b["term_end"] < 0)
    assert np.any(active & (b["years_at_school"] < 3))
    assert np.any(active & (s["tier"][b["school"]] == RURAL) & (b["years_at_school"] >= 3)
                  & (b["years_at_school"] < 5))
    r = first.moves[0][1]
    assert commute(model, r, np.arange(model.world.n_schools)).max() > cap


def _remote_moves(monkeypatch, remote: int) -> tuple[RotationModel, list[tuple[int, int]]]:
    """(tier of home, years at school then) of every rotator of a program that rotates everyone
    eligible after 3 years, with a remote minimum stay of `remote` years."""
    log = record_applies(monkeypatch)
    model = build({"name": "p", "eligibility": {"min_years_at_school": 3, "remote_min_years": remote},
                   "quota": {"share_of_eligible": 1.0}, "scope": "district", "matching": "random"},
                  world=SMALL16, policy={"receiving_capacity": 3.0}, seed=6)
    model.run_for(2)
    tier = model.world.schools["tier"]
    return model, [(int(tier[mv[2]]), int(app.before["years_at_school"][mv[1]])) for app in log for mv in app.moves]


def test_remote_min_years_keeps_teachers_at_rural_schools_longer(monkeypatch):
    model, moved = _remote_moves(monkeypatch, 5)
    cfg = model.config.policy.programs[0]
    wf = model.workforce
    tier = model.world.schools["tier"][wf.school]
    strict = eligible_mask(model, cfg.eligibility)
    loose = eligible_mask(model, cfg.eligibility.model_copy(update={"remote_min_years": 0}))
    # the rule removes exactly the rural-school teachers with 3 or 4 years there
    np.testing.assert_array_equal(loose & ~strict, loose & (tier == RURAL) & (wf.years_at_school < 5))
    assert sum(t == RURAL for t, _ in moved) > 0
    assert all(y >= 5 for t, y in moved if t == RURAL), "a teacher left a remote school before 5 years"
    assert any(y < 5 for t, y in moved if t != RURAL)  # the minimum is for remote schools only
    # without the remote minimum, the same seed moves rural teachers with 3-4 years: the rule binds
    _, without = _remote_moves(monkeypatch, 0)
    assert any(t == RURAL and y < 5 for t, y in without)

# -------------------------------------------------------------------------- 13. age exemptions


def test_exempt_ages_are_never_selected():
    """Wuhan 2015: men over 52 and women over 48 are exempt."""
    program = {"name": "exchange", "quota": {"share_of_eligible": 0.5}, "scope": "district",
               "eligibility": {"min_years_at_school": 3}}

    def run(exempt: bool) -> list[tuple[bool, int]]:
        rule = {"exempt_men_over": 52, "exempt_women_over": 48} if exempt else {}
        log = []
        model = build({**program, "eligibility": {**program["eligibility"], **rule}}, world=SMALL3, seed=4)
        for _ in range(2):
            model.step()  # ageing comes before rotation in a step: the age now is the age at the move
            wf = model.workforce
            log += [(bool(wf.woman[mv[1]]), int(wf.age[mv[1]])) for mv in moves_by_year(model, "rotation")[model.year]]
        return log

    def exempt(woman: bool, age: int) -> bool:
        return age > 48 if woman else age > 52

    moved = run(True)
    assert len(moved) > 50
    assert not [m for m in moved if exempt(*m)]
    assert any(w and exempt(w, a) for w, a in run(False)), "without the rule, exempt-age women are moved"
    assert any(not w and exempt(w, a) for w, a in run(False)), "without the rule, exempt-age men are moved"


def test_eligibility_of_one_district_is_every_rule_row_by_row():
    """A program of one or two of 16 districts reads only their rows (the scoped path): the mask
    must be every rule stated row by row over the whole workforce, for each rule the scoped path
    looks up per row (remote minimum stay, age exemptions, roles, levels, backbone) switched on in
    turn, after two years of moves and covers (rotated this year, covers holding posts, hires)."""
    from sim.codes import BACKBONE, ROLES, TEACHER_LEVELS, TIERS
    from sim.world.retirement import years_left

    model = build({"name": "p", "quota": {"share_of_eligible": 0.3}, "backfill": "pool"}, world=SMALL16, seed=2)
    model.run_for(2)
    wf, s, names = model.workforce, model.world.schools, model.world.district_names
    rural = s["tier"][wf.school] == TIERS.index("rural")
    with_rural = [names[d] for d in np.unique(s["district"][s["tier"] == TIERS.index("rural")])][:2]
    assert len(with_rural) == 2
    base = model.config.policy.programs[0].eligibility.model_copy(update={"districts": with_rural,
                                                                          "min_years_at_school": 1})
    # each extra rule with the rows it keeps, stated from the schema
    extra = [({}, True),
             ({"remote_min_years": 8}, ~rural | (wf.years_at_school >= 8)),
             ({"exempt_men_over": 45}, wf.woman | (wf.age <= 45)),
             ({"exempt_women_over": 40}, ~wf.woman | (wf.age <= 40)),
             ({"roles": ["teacher"]}, wf.role == ROLES.index("teacher")),
             ({"levels": ["junior"]}, wf.level == TEACHER_LEVELS.index("junior")),
             ({"min_backbone": BACKBONE[1]}, wf.backbone >= 1),
             ({"max_experience": 10}, wf.experience <= 10)]
    district_ok = np.isin(s["district"][wf.school], [names.index(n) for n in with_rural])
    assert 4 * district_ok.sum() < wf.n
    common = (wf.active & (wf.term_end < 0) & (wf.rotated_in != model.year) & (wf.cover_until < 0)
              & (wf.years_at_school >= base.min_years_at_school) & district_ok
              & (years_left(wf.age, wf.birth_month, wf.retire_months) >= base.min_years_to_retirement))
    assert np.any(wf.rotated_in == model.year) and np.any(wf.cover_until >= 0)
    for update, keeps in extra:
        expected = common & keeps
        assert expected.sum() > 0 and (not update or expected.sum() < common.sum()), update  # the rule bites
        got = eligible_mask(model, base.model_copy(update=update))
        assert got.tolist() == expected.tolist(), update


def test_years_to_retirement_after_rows_are_added_and_ages_change():
    """The kept years left are each row's years_left when rows are appended (covers, hires) and
    when ages change, however often it is asked."""
    from sim.policies.eligibility import years_to_retirement
    from sim.world.retirement import years_left

    model = build({"name": "p", "quota": {"share_of_eligible": 0.3}}, world=SMALL3)
    wf = model.workforce
    for step in range(4):
        years_to_retirement(model)
        if step % 2:
            model.add_teachers({"school": wf.school[:5], "host": wf.school[:5], "age": np.full(5, 58),
                                "birth_month": np.arange(1, 6)}, kind="hire")
        else:
            wf.age[:7] += 1
        assert years_to_retirement(model).tolist() == years_left(wf.age, wf.birth_month, wf.retire_months).tolist()
