"""Tenure accounting (sim/core/tenure.py): how rotation time counts toward years at the home school,
and the rotation history a run starts with.

Before, years at the school restarted both when a rotator left and when they came home, with no
way to say otherwise, and every world started with nobody ever rotated.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.config.scenario import ScenarioError, load_scenario
from sim.core.model import RotationModel
from tests.conftest import DONGCHENG, DONGCHENG_2021, SMALL_DONGCHENG, metric_series, moves_by_year, scenario

ONE_YEAR = ("policy.programs.0.term_years_min=1", "policy.programs.0.term_years_max=1",
            "policy.programs.0.quota.min_count=100")
HISTORY = ("careers.tenure.history_years=7", "careers.tenure.history_rate=0.18")


def returned_tenure(rule: str) -> tuple[np.ndarray, np.ndarray]:
    """(years at the school when they left in year 1, the same at the end of year 2) of the
    one-year rotators of year 1 who came home in year 2 and did not leave again."""
    model = RotationModel(scenario(DONGCHENG, *SMALL_DONGCHENG, *ONE_YEAR,
                                   f"careers.tenure.rotation_counts={rule}"), rng=5)
    model.step()
    left = np.array(sorted({mv[1] for mv in moves_by_year(model, "rotation")[1]}))
    wf = model.workforce
    before = wf.years_at_school[left].copy()  # under reset already 0; read the others' value
    model.step()
    again = {mv[1] for mv in moves_by_year(model, "rotation")[2]}
    home = np.array([r in {mv[1] for mv in moves_by_year(model, "return")[2]} and r not in again
                     and wf.active[r] and wf.school[r] == wf.host[r] for r in left])
    assert home.sum() > 10
    return before[home], wf.years_at_school[left][home]


def test_reset_restarts_the_count_on_leaving_and_on_coming_home():
    before, after = returned_tenure("reset")
    assert np.all(before == 0)
    assert np.all(after == 1)  # home again this year: the year just begun counts, as for anyone


def test_continue_counts_the_years_away_as_years_at_home():
    before, after = returned_tenure("continue")
    assert np.all(before >= 6)  # the exchange's 6-year rule: nothing restarted on leaving
    assert np.all(after == before + 1)


def test_pause_stops_the_count_while_away():
    before, after = returned_tenure("pause")
    assert np.all(before >= 6)
    assert np.all(after == before)  # the year away did not count


def test_the_tenure_rule_changes_who_is_eligible_later():
    """Under continue, returned rotators are past the 6-year rule again at once: more are
    eligible in year 3 than under reset."""
    eligible = {}
    for rule in ("reset", "continue"):
        model = RotationModel(scenario(DONGCHENG, *SMALL_DONGCHENG, *ONE_YEAR,
                                       f"careers.tenure.rotation_counts={rule}"), rng=5)
        model.run_for(3)
        eligible[rule] = metric_series(model, "eligible")[3]
    assert eligible["continue"] > eligible["reset"]


def test_history_draws_past_rotations_at_the_rate_over_the_years_taught():
    model = RotationModel(scenario(DONGCHENG, *SMALL_DONGCHENG, *HISTORY), rng=1)
    wf = model.workforce
    span = np.minimum(7, wf.experience)
    expected = np.mean(1 - (1 - 0.18) ** span)
    assert abs(np.mean(wf.past_rotations > 0) - expected) < 0.04
    assert np.all(wf.past_rotations <= span)
    assert np.all(wf.n_rotations == 0)  # the run's own count (coverage) starts at 0
    plain = RotationModel(scenario(DONGCHENG, *SMALL_DONGCHENG), rng=1).workforce
    assert np.all(plain.past_rotations == 0)
    # under reset a past rotation shortened the years at the school, never lengthened them
    assert np.all(wf.years_at_school <= plain.years_at_school)
    assert np.mean(wf.years_at_school >= 6) < np.mean(plain.years_at_school >= 6) - 0.2
    assert np.array_equal(wf.arrived, -wf.years_at_school)


def test_history_shrinks_the_starting_backlog_and_feeds_never_rotated():
    """With 7 years of history fewer teachers are eligible in year 1, and those rotated before the
    run go after the never-rotated (the first priority key)."""
    reset = "careers.tenure.rotation_counts=reset"
    with_history = RotationModel(scenario(DONGCHENG_2021, "run.years=1", reset), rng=2)
    without = RotationModel(scenario(DONGCHENG_2021, "run.years=1", reset, "careers.tenure.history_years=0",
                                     "careers.tenure.history_rate=0"), rng=2)
    with_history.step()
    without.step()
    assert metric_series(with_history, "eligible")[1] < 0.6 * metric_series(without, "eligible")[1]
    wf = with_history.workforce
    moved = np.array([mv[1] for mv in moves_by_year(with_history, "rotation")[1] if mv[5] == "district_exchange"])
    assert len(moved) > 100
    assert np.mean(wf.past_rotations[moved] == 0) > np.mean(wf.past_rotations[wf.active] == 0)


def test_dongcheng_2021s_tenure_rules_bind():
    """dongcheng_2021 sets a 7-year history and `pause`: without the history more are eligible in
    year 1; with reset instead of pause the plan's 2,000 a year is out of reach in year 1."""
    as_set = RotationModel(scenario(DONGCHENG_2021, "run.years=1"), rng=2)
    no_history = RotationModel(scenario(DONGCHENG_2021, "run.years=1", "careers.tenure.history_years=0",
                                        "careers.tenure.history_rate=0"), rng=2)
    reset = RotationModel(scenario(DONGCHENG_2021, "run.years=1", "careers.tenure.rotation_counts=reset"), rng=2)
    for model in (as_set, no_history, reset):
        model.step()
    assert metric_series(as_set, "eligible")[1] < metric_series(no_history, "eligible")[1]
    assert metric_series(as_set, "rotations")[1] >= 2000 > metric_series(reset, "rotations")[1]


def test_history_without_a_rate_is_refused_in_one_line(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("careers:\n  tenure:\n    history_years: 5\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert "history_rate" in str(err.value) and "\n" not in str(err.value)
