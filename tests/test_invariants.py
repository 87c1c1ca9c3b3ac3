"""Invariants that hold every year, over several seeds, both presets and several policies."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import BASELINE, DONGCHENG, ROTATION, SMALL_BEIJING, SMALL_DONGCHENG, metric_series, scenario
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.codes import MOVE_KINDS
from sim.core.agents import Teacher
from sim.core.model import RotationModel
from sim.metrics import REGISTRY

YEARS = 4
SCOPE_COLUMN = {"group": "group", "school_district": "school_district", "district": "district"}

CASES = [
    pytest.param(DONGCHENG, SMALL_DONGCHENG, (), id="dongcheng-small"),
    pytest.param(DONGCHENG, SMALL_BEIJING, (), id="beijing-small"),
    pytest.param(DONGCHENG, SMALL_BEIJING,
                 ("policy.programs.0.scope=school_district", "policy.programs.0.direction=strong_to_weak",
                  "policy.programs.0.matching=random", "policy.programs.0.stay_share=0.3"),
                 id="beijing-small-sd-strong-to-weak-stay"),
    pytest.param(DONGCHENG, SMALL_DONGCHENG,
                 ("policy.programs.0.scope=group", "policy.programs.0.term_years_min=1",
                  "policy.programs.0.term_years_max=1", "policy.programs.0.quota.min_count=0",
                  "policy.programs.0.quota.share_of_eligible=0.3"),
                 id="dongcheng-small-group-1yr"),
    pytest.param(BASELINE, SMALL_BEIJING, (), id="baseline-beijing-small"),
]


def check_year(model) -> None:
    """Placement and bookkeeping after a step."""
    wf = model.workforce
    active = wf.active_rows()
    # every active teacher has exactly one agent, on its host school's cell
    for r in active.tolist():
        agent = model.teacher(r)
        assert agent is not None and agent.row == r
        assert agent.cell is model.space[int(wf.host[r])], (model.year, r)
    for r in np.flatnonzero(~wf.active).tolist():
        assert model.teacher(r) is None
    on_cells = sum(sum(isinstance(a, Teacher) for a in model.space[i].agents) for i in range(model.world.n_schools))
    assert on_cells == len(active)
    assert len(model.agents_by_type[Teacher]) == len(active)
    rows_on_cells = [a.row for i in range(model.world.n_schools) for a in model.space[i].agents
                     if isinstance(a, Teacher)]
    assert len(set(rows_on_cells)) == len(rows_on_cells)  # nobody duplicated
    # rotators are away until their term ends; everyone else teaches at home
    rotating = wf.term_end[active] >= 0
    assert np.all(wf.host[active][~rotating] == wf.school[active][~rotating])
    assert np.all(wf.host[active][rotating] != wf.school[active][rotating])
    assert np.all(wf.term_end[active][rotating] > model.year)
    assert model.home_posts().sum() == len(active)


def run_checked(sc, seed: int) -> RotationModel:
    model = RotationModel(sc, rng=seed)
    check_year(model)
    for _ in range(YEARS):
        model.step()
        check_year(model)
    return model


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("path, world, extra", CASES)
def test_invariants(path, world, extra, seed):
    sc = scenario(path, *world, *extra)
    model = run_checked(sc, seed)
    wf = model.workforce
    s = model.world.schools
    years = range(1, YEARS + 1)

    # head counts balance: start + hires - retirements - attrition = end
    post = metric_series(model, "teachers_in_post")
    hires, ret, att = (metric_series(model, k) for k in ("hires", "retirements", "attrition"))
    assert post[0] == model.world.n_teachers
    for y in years:
        assert post[y - 1] + hires[y] - ret[y] - att[y] == post[y], y
    assert post[YEARS] == wf.active.sum()
    assert wf.n == model.world.n_teachers + sum(hires[y] for y in years)  # rows never reused

    # counts in the metrics agree with the move log
    by_kind = {k: {y: 0 for y in years} for k in MOVE_KINDS}
    for mv in model.moves:
        by_kind[MOVE_KINDS[mv[4]]][mv[0]] += 1
    for kind, metric in (("rotation", "rotations"), ("return", "returns"), ("stay", "stays"), ("hire", "hires"),
                         ("retirement", "retirements"), ("attrition", "attrition"),
                         ("drift", "drift_transfers")):
        series = metric_series(model, metric)
        assert all(by_kind[kind][y] == series[y] for y in years), kind

    # each teacher leaves at most once, and makes no move after leaving
    left = {}
    for mv in model.moves:
        if MOVE_KINDS[mv[4]] in ("retirement", "attrition"):
            assert mv[1] not in left
            left[mv[1]] = mv[0]
        else:
            assert mv[1] not in left
    assert set(left) == set(np.flatnonzero(~wf.active).tolist())

    # every rotation respects the program's scope and direction, and fits the level
    programs = {p.name: p for p in sc.policy.programs}
    for mv in (m for m in model.moves if m[4] == ROTATION):
        _, row, frm, to, _, name, *_ = mv
        p = programs[name]
        assert frm != to
        if p.scope != "city":
            col = s[SCOPE_COLUMN[p.scope]]
            assert col[frm] == col[to] and col[frm] >= 0
        if p.direction == "strong_to_weak":
            assert s["tier"][to] < s["tier"][frm]
        elif p.direction == "weak_to_strong":
            assert s["tier"][to] > s["tier"][frm]
        if not p.cross_level:
            assert s["level"][to] in (wf.level[row], 2)

    # coverage of the eligible cohort never decreases and stays a share
    cov = metric_series(model, "coverage_eligible")
    assert all(0.0 <= cov[y] <= 1.0 for y in cov)
    assert all(cov[y] >= cov[y - 1] for y in years)
    if sc.policy.programs:
        assert sum(metric_series(model, "rotations").values()) > 0  # the checks above were not vacuous
    else:
        assert all(v == 0 for v in metric_series(model, "rotations").values())

    # every metric value is a number; only the indices documented as unbounded may be +inf
    for _, name, _, v in model.metric_rows:
        assert np.isfinite(v) or (v == np.inf and REGISTRY[name].may_be_infinite), (name, v)


@pytest.mark.parametrize("seed", [0, 1])
def test_returns_go_home_after_the_term(seed):
    sc = scenario(DONGCHENG, *SMALL_BEIJING, "policy.programs.0.term_years_min=1",
                  "policy.programs.0.term_years_max=2")
    model = run_checked(sc, seed)
    started = {}
    for year, row, frm, to, kind, *_ in model.moves:
        name = MOVE_KINDS[kind]
        if name == "rotation":
            assert row not in started  # one rotation at a time
            started[row] = (year, frm, to)
        elif name == "return":
            y0, home, host = started.pop(row)
            assert (frm, to) == (host, home)
            assert 1 <= year - y0 <= 2  # term of 1-2 years
        elif name in ("retirement", "attrition"):
            started.pop(row, None)
    assert any(MOVE_KINDS[mv[4]] == "return" for mv in model.moves)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    scope=st.sampled_from(["group", "school_district", "district", "city"]),
    direction=st.sampled_from(["any", "strong_to_weak", "weak_to_strong"]),
    matching=st.sampled_from(["random", "need"]),
    cross_level=st.booleans(),
    stay_share=st.sampled_from([0.0, 0.5, 1.0]),
    terms=st.sampled_from([(1, 1), (1, 3), (2, 4)]),
    share=st.sampled_from([0.1, 0.5, 1.0]),
)
def test_invariants_hold_for_any_policy(seed, scope, direction, matching, cross_level, stay_share, terms, share):
    sc = scenario(DONGCHENG, *SMALL_BEIJING, f"policy.programs.0.scope={scope}",
                  f"policy.programs.0.direction={direction}", f"policy.programs.0.matching={matching}",
                  f"policy.programs.0.cross_level={str(cross_level).lower()}",
                  f"policy.programs.0.stay_share={stay_share}", f"policy.programs.0.term_years_min={terms[0]}",
                  f"policy.programs.0.term_years_max={terms[1]}", "policy.programs.0.quota.min_count=0",
                  "policy.programs.0.quota.coverage_years=null",
                  f"policy.programs.0.quota.share_of_eligible={share}")
    model = run_checked(sc, seed)
    s = model.world.schools
    wf = model.workforce
    post = metric_series(model, "teachers_in_post")
    flows = [metric_series(model, k) for k in ("hires", "retirements", "attrition")]
    for y in range(1, YEARS + 1):
        assert post[y - 1] + flows[0][y] - flows[1][y] - flows[2][y] == post[y]
    cov = metric_series(model, "coverage_eligible")
    assert all(cov[y] >= cov[y - 1] for y in range(1, YEARS + 1))
    for _, row, frm, to, kind, _, *_ in model.moves:
        if kind != ROTATION:
            continue
        if scope != "city":
            col = s[SCOPE_COLUMN[scope]]
            assert col[frm] == col[to] >= 0
        if direction == "strong_to_weak":
            assert s["tier"][to] < s["tier"][frm]
        elif direction == "weak_to_strong":
            assert s["tier"][to] > s["tier"][frm]
        if not cross_level:
            assert s["level"][to] in (wf.level[row], 2)
