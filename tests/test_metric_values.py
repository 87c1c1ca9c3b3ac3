"""The model's metric rows agree with values recomputed independently from its state and moves."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from conftest import DONGCHENG, SMALL_BEIJING, metric_series, moves_by_year, scenario

from sim.codes import DISTRICT_BACKBONE, ROLES, TIERS
from sim.core.model import RotationModel
from sim.metrics import official_cv

YEARS = 3


@pytest.fixture(scope="module")
def model():
    m = RotationModel(scenario(DONGCHENG, *SMALL_BEIJING, "policy.programs.0.stay_share=0.3",
                               "policy.programs.0.term_years_max=1"), rng=11)
    m.run_for(YEARS)
    return m


def rows(model, name, year):
    return {g: v for y, m, g, v in model.metric_rows if m == name and y == year}


def test_per_district_cv_is_the_official_cv_of_that_districts_schools(model):
    wf, s = model.workforce, model.world.schools
    act = wf.active
    bb = (wf.backbone >= DISTRICT_BACKBONE) & act & (wf.level == 0)
    counts = np.bincount(wf.host[bb], minlength=model.world.n_schools)
    got = rows(model, "cv_backbone", YEARS)
    for d, name in enumerate(model.world.district_names):
        mine = (s["district"] == d) & (s["enrol_primary"] > 0)
        expected = official_cv(counts[mine], s["enrol_primary"][mine])
        assert got[f"primary@{name}"] == pytest.approx(expected, abs=1e-12)


def test_flows_and_shares_match_the_move_log(model):
    s = model.world.schools
    for year in range(1, YEARS + 1):
        moved = moves_by_year(model, "rotation")[year]
        assert len(moved) > 0
        flows = rows(model, "flow_tier", year)
        assert sum(flows.values()) == len(moved) == metric_series(model, "rotations")[year]
        expected = Counter(f"{TIERS[s['tier'][mv[2]]]}->{TIERS[s['tier'][mv[3]]]}" for mv in moved)
        assert flows == {k: float(v) for k, v in expected.items()}
        assert sum(rows(model, "flow_district", year).values()) == len(moved)
        down = sum(s["tier"][mv[3]] < s["tier"][mv[2]] for mv in moved)
        assert metric_series(model, "strong_to_weak_share")[year] == pytest.approx(down / len(moved))
        bb = sum(mv[6] >= DISTRICT_BACKBONE for mv in moved)
        assert metric_series(model, "backbone_share_rotators")[year] == pytest.approx(bb / len(moved))
        assert rows(model, "rotations_by_form", year) == {"full_time": float(len(moved)), "part_time": 0.0,
                                                          "transfer": 0.0, "training": 0.0}


def test_return_rate_counts_returns_and_stays(model):
    # one-year terms: every rotation of year y ends at the start of year y + 1
    for year in range(2, YEARS + 1):
        ret = len(moves_by_year(model, "return")[year])
        stay = len(moves_by_year(model, "stay")[year])
        assert ret + stay == len(moves_by_year(model, "rotation")[year - 1])
        assert stay > 0  # stay_share 0.3: the check is not vacuous
        assert metric_series(model, "return_rate")[year] == pytest.approx(ret / (ret + stay))


def test_attrition_rate_by_tier(model):
    s = model.world.schools
    wf = model.workforce
    left = moves_by_year(model, "attrition")[YEARS]
    got = rows(model, "attrition_rate", YEARS)
    staff = np.bincount(s["tier"][wf.host[wf.active]], minlength=len(TIERS))
    gone = Counter(int(s["tier"][mv[2]]) for mv in left)
    for t, name in enumerate(TIERS):
        if staff[t] + gone[t]:
            assert got[name] == pytest.approx(gone[t] / (staff[t] + gone[t]))
    assert got["all"] == pytest.approx(len(left) / (staff.sum() + len(left)))


def test_change_metrics_start_at_zero_and_shares_are_shares(model):
    assert metric_series(model, "hollowing_out_quality")[0] == 0.0
    assert metric_series(model, "hollowing_out_backbone")[0] == 0.0
    for name in ("coverage_staff", "coverage_eligible", "adapted_share_rotators", "full_time_share",
                 "participation", "return_rate"):
        assert all(0.0 <= v <= 1.0 for v in metric_series(model, name).values()), name
    wf = model.workforce
    assert metric_series(model, "coverage_staff")[YEARS] == pytest.approx(
        np.sum(wf.active & (wf.n_rotations > 0)) / np.sum(wf.active))
    assert metric_series(model, "p90_commute")[YEARS] >= metric_series(model, "mean_commute")[YEARS] * 0.5
    assert metric_series(model, "p90_commute")[YEARS] == pytest.approx(np.percentile(wf.commute[wf.active], 90))


def test_per_teacher_metrics_are_their_definitions_over_the_whole_workforce(model):
    """The per-teacher metrics and school-frame counts read the active teachers' columns gathered
    once a year (YearContext.active); the values are those of masks over every workforce row."""
    wf, s = model.workforce, model.world.schools
    act = wf.active
    rot = act & (wf.term_end >= 0)
    got = {m: metric_series(model, m)[YEARS] for m in (
        "rotating", "coverage_staff", "mean_commute", "mean_commute_rotators", "mean_satisfaction",
        "adapted_share_rotators", "cadres_in_post", "schools_without_principal", "sending_loss_quality")}
    assert rot.any() and got["rotating"] == rot.sum()
    assert got["coverage_staff"] == np.sum(act & (wf.n_rotations > 0)) / np.sum(act)
    assert got["mean_commute"] == wf.commute[act].mean()
    assert got["mean_commute_rotators"] == wf.commute[rot].mean()
    assert got["mean_satisfaction"] == wf.satisfaction[act].mean()
    assert got["adapted_share_rotators"] == np.sum(wf.satisfaction[rot] >= 0.6) / np.sum(rot)
    assert got["cadres_in_post"] == np.sum(act & (wf.role > 0)) > 0
    principal = np.zeros(model.world.n_schools, dtype=bool)
    principal[wf.school[act & (wf.role == ROLES.index("principal"))]] = True
    assert got["schools_without_principal"] == np.sum(~principal)
    away = rot & (wf.part_host < 0) & (wf.host != wf.school)
    lent = np.bincount(wf.school[away], weights=wf.quality[away], minlength=model.world.n_schools)
    own = np.bincount(wf.school[act], weights=wf.quality[act], minlength=model.world.n_schools)
    assert lent.sum() > 0 and got["sending_loss_quality"] == pytest.approx(lent.sum() / own[lent > 0].sum())
    frame = model.school_frame_latest
    assert np.array_equal(frame["away_rotators"], np.bincount(wf.school[rot], minlength=len(s["tier"])))
    hosted = np.bincount(wf.host[rot & (wf.part_host < 0)], minlength=len(s["tier"])) + \
        np.bincount(wf.part_host[rot & (wf.part_host >= 0)], minlength=len(s["tier"]))
    assert np.array_equal(frame["hosted_rotators"], hosted)


def test_decomposition_pieces_add_up_in_the_model(model):
    for year in range(YEARS + 1):
        for ind in ("backbone", "quality"):
            total = rows(model, f"theil_t_{ind}", year)
            for part in ("school_district", "group", "district"):
                between = rows(model, f"theil_t_{ind}_between_{part}", year)
                within = rows(model, f"theil_t_{ind}_within_{part}", year)
                for g in total:
                    assert between[g] + within[g] == pytest.approx(total[g], abs=1e-12)
