"""Rotation forms: part-time, full-time, transfer and the training flow.

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
from conftest import metric_series, moves_by_year
from policy_helpers import (
    build,
    hand_count,
    leader_of_group,
    record_applies,
)

from sim.codes import TIERS
from sim.metrics import school_table

# ------------------------------------------------------------------------- 1. part-time form


PART_TIME = {"name": "walking", "form": "part_time", "part_time_share": 0.4, "quota": {"share_of_eligible": 0.25},
             "priority": ["never_rotated"], "scope": "district", "matching": "need",
             "term_years_min": 1, "term_years_max": 1}


def test_part_time_rotator_keeps_home_post_and_cell_and_teaches_a_share_at_the_host():
    model = build(PART_TIME, seed=3)
    model.step()
    wf = model.workforce
    moves = moves_by_year(model, "rotation")[1]
    assert len(moves) > 10
    for _, r, frm, to, _, name, *_ in moves:
        assert name == "walking"
        assert wf.school[r] == frm and wf.host[r] == frm, "the home post and host stay at home"
        assert wf.part_host[r] == to != frm
        assert wf.part_share[r] == pytest.approx(0.4)
        assert wf.term_end[r] == 2  # year 1 + a one-year term
        agent = model.teacher(r)
        assert agent.cell is model.space[frm], "the Mesa agent stays on the home school's cell"
        assert agent.cell is not model.space[to]
    rotated = {mv[1] for mv in moves}
    others = [r for r in np.flatnonzero(wf.active) if r not in rotated]
    assert np.all(wf.part_host[others] == -1)


def test_part_time_school_table_splits_the_load_between_home_and_host():
    model = build(PART_TIME, seed=3)
    model.step()
    wf = model.workforce
    s = model.world.schools
    n = model.world.n_schools
    table = school_table(wf, s, np.zeros(n))
    assert np.any(wf.part_host[wf.active] >= 0)
    teachers = hand_count(model)
    np.testing.assert_allclose(table["teachers"].sum(axis=1), teachers, atol=1e-9)
    np.testing.assert_allclose(model.school_rows[-1]["teachers"], teachers, atol=1e-9)
    backbone = hand_count(model, wf.backbone >= 2)
    np.testing.assert_allclose(table["backbone"].sum(axis=1), backbone, atol=1e-9)
    # shares make some counts fractional, and the total is still one per teacher
    assert np.any(np.abs(teachers - np.round(teachers)) > 0.1)
    assert teachers.sum() == pytest.approx(wf.active.sum())
    # by section: a teacher's share counts in the section of the level taught
    for level in (0, 1):
        want = hand_count(model, wf.level == level)
        np.testing.assert_allclose(table["teachers"][:, level], want, atol=1e-9)


def test_part_time_term_end_resets_part_host_and_logs_a_return():
    model = build(PART_TIME, seed=3)
    model.step()
    year1 = {mv[1]: (mv[2], mv[3]) for mv in moves_by_year(model, "rotation")[1]}
    model.step()
    wf = model.workforce
    returns = {mv[1]: (mv[2], mv[3]) for mv in moves_by_year(model, "return")[2]}
    again = {mv[1] for mv in moves_by_year(model, "rotation")[2]}
    for r, (home, host) in year1.items():
        assert returns.get(r) == (host, home), f"row {r}: no return from {host} to {home} in year 2"
    idle = [r for r in year1 if r not in again and wf.active[r]]
    assert len(idle) > 5
    assert np.all(wf.part_host[idle] == -1)
    assert np.all(wf.part_share[idle] == 0.0)
    assert np.all(wf.term_end[idle] == -1)
    assert np.all(wf.host[idle] == wf.school[idle])


def test_part_time_rotations_counted_in_rotations_by_form():
    model = build(PART_TIME, seed=3)
    model.run_for(2)
    per_year = moves_by_year(model, "rotation")
    for year in (1, 2):
        assert metric_series(model, "rotations_by_form", "part_time")[year] == len(per_year[year]) > 0
        for form in ("full_time", "transfer", "training"):
            assert metric_series(model, "rotations_by_form", form)[year] == 0
    assert metric_series(model, "full_time_share")[1] == 0.0


def test_full_time_rotator_moves_cell_to_the_host_and_back_home():
    """The contrast with part-time: a full-time rotator's Mesa cell is the host's for the term."""
    model = build({**PART_TIME, "name": "full", "form": "full_time"}, seed=3)
    model.step()
    wf = model.workforce
    moves = moves_by_year(model, "rotation")[1]
    assert len(moves) > 10
    for _, r, frm, to, *_ in moves:
        assert wf.school[r] == frm and wf.host[r] == to and wf.part_host[r] == -1
        assert model.teacher(r).cell is model.space[to]
    assert metric_series(model, "rotations_by_form", "full_time")[1] == len(moves)
    model.step()
    returns = {mv[1]: (mv[2], mv[3]) for mv in moves_by_year(model, "return")[2]}
    again = {mv[1] for mv in moves_by_year(model, "rotation")[2]}
    for _, r, frm, to, *_ in moves:
        assert returns.get(r) == (to, frm)
        if r not in again and wf.active[r] and wf.school[r] == frm:  # not promoted elsewhere since
            assert model.teacher(r).cell is model.space[frm]


# -------------------------------------------------------------------------- 2. transfer form


TRANSFER = {"name": "reassign", "form": "transfer", "quota": {"share_of_eligible": 0.2}, "scope": "district",
            "matching": "need"}


def test_transfer_moves_the_home_post_at_once_with_no_term():
    model = build(TRANSFER, seed=4)
    before = model.workforce.school.copy()
    model.step()
    wf = model.workforce
    moves = moves_by_year(model, "rotation")[1]
    assert len(moves) > 10
    # a cadre beyond the host's leadership posts may then take a vacant post elsewhere (sim.core.cadres)
    reposted = {mv[1]: mv[3] for mv in moves_by_year(model, "promotion")[1]}
    for _, r, frm, to, *_ in moves:
        assert frm == before[r] != to
        to = reposted.get(r, to)
        assert wf.school[r] == to and wf.host[r] == to
        assert wf.term_end[r] == -1 and wf.program[r] == -1 and wf.part_host[r] == -1
        assert wf.n_rotations[r] == 1
        assert model.teacher(r).cell is model.space[to]
    assert metric_series(model, "rotations_by_form", "transfer")[1] == len(moves)
    assert metric_series(model, "rotations_by_form", "full_time")[1] == 0
    assert metric_series(model, "rotating")[1] == 0  # nobody is "away": the post moved with them
    # a transfer takes a vacant post: no receiving school ends above its staffing norm (leaving
    # out the cadres the pipeline reposted there, who take a leadership post, not a vacancy)
    posts = model.home_posts() - np.bincount(list(reposted.values()), minlength=model.world.n_schools)
    norm = model.world.schools["norm"]
    over = [h for h in {mv[3] for mv in moves} if posts[h] > norm[h]]
    assert not over, f"receiving schools above their norm: {over}"
    # the posts moved: every receiving school holds the transferred teachers' posts
    got = Counter(mv[3] for mv in moves)
    for school, k in got.items():
        assert np.sum(wf.school[wf.active] == school) >= k
    model.step()
    rows = {mv[1] for mv in moves}
    assert not any(mv[1] in rows for mv in moves_by_year(model, "return")[2]), "a transfer has no return"


def test_a_teacher_transferred_this_year_is_not_rotated_again_by_a_later_program():
    """A transfer leaves its teacher at home with no term, so a later program that asks for no
    years at the school must still not rotate them again that year (participation stays a share)."""
    again = {"name": "again", "eligibility": {"min_years_at_school": 0}, "quota": {"share_of_eligible": 0.9}}
    model = build(TRANSFER, again, seed=4)
    model.run_for(2)
    for year, moves in moves_by_year(model, "rotation").items():
        rows = Counter(mv[1] for mv in moves)
        assert len(moves) > 10
        assert max(rows.values()) == 1, f"year {year}: rotated twice: {[r for r, k in rows.items() if k > 1][:5]}"
        assert metric_series(model, "participation")[year] <= 1.0


# ----------------------------------------------------------------------------- 3. training flow


TRAINING = {"name": "training", "eligibility": {"min_years_at_school": 0, "max_experience": 3,
                                                 "sending_tiers": ["rural", "weak", "ordinary"], "roles": ["teacher"]},
            "quota": {"share_of_eligible": 1.0}, "priority": ["strongest_first"], "scope": "group",
            "direction": "weak_to_strong", "matching": "leading_school", "term_years_min": 1, "term_years_max": 1}


def test_training_flow_goes_to_the_own_groups_leading_school_only_for_young_teachers(monkeypatch):
    log = record_applies(monkeypatch)
    model = build(TRAINING, policy={"receiving_capacity": 1.5}, seed=2)
    s = model.world.schools
    leaders = leader_of_group(model)
    wf = model.workforce
    sending = np.isin(s["tier"][wf.school], [0, 1, 2])
    # teachers just past the limit exist at the sending schools, so the limit has something to exclude
    assert np.sum(sending & (wf.experience > 3) & (wf.experience <= 10) & (wf.role == 0)) > 20
    model.run_for(3)
    total = 0
    for app in log:
        for _, r, frm, to, *_ in app.moves:
            g = int(s["group"][frm])
            assert g >= 0 and to == leaders[g], f"row {r} went from {frm} to {to}, not to its group's leader"
            assert app.before["experience"][r] <= 3
            assert app.before["role"][r] == 0
            assert s["tier"][frm] <= TIERS.index("ordinary")
            assert frm == app.before["school"][r]
        assert metric_series(model, "rotations_by_form", "training")[app.year] == len(app.moves)
        assert metric_series(model, "rotations_by_form", "full_time")[app.year] == 0
        total += len(app.moves)
    assert total > 5
    # young teachers of several groups went, each to their own leader
    groups = {int(s["group"][mv[2]]) for app in log for mv in app.moves}
    assert len(groups) >= 3, groups
