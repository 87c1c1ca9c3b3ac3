"""Targets files: the shipped figures load with their own denominators; bad files are one line;
statistics and the met rule compute what the docs say."""

from __future__ import annotations

import math

import pytest
from conftest import REPO

from sim.config.targets import Statistic, Target, TargetsError, load_targets

CALIBRATION = REPO / "calibration"


def test_shipped_targets_keep_the_sources_denominators():
    dc = load_targets(CALIBRATION / "dongcheng.yaml").targets
    cover = dc["all_staff_within_three_years"]
    assert cover.statistic.metric == "coverage_staff"  # all staff, not the eligible cohort
    assert cover.alternatives["eligible_cohort"].statistic.metric == "coverage_eligible"
    assert dc["selected_3236_in_one_year"].published == 3236
    bj = load_targets(CALIBRATION / "beijing.yaml").targets["over_40pc_took_part"]
    assert bj.statistic.metric == "rotations" and bj.statistic.per.metric == "teachers_in_post"
    assert bj.alternatives["share_of_eligible"].statistic.metric == "participation"
    cn = load_targets(CALIBRATION / "china_2014.yaml").targets
    assert cn["anhui_13_5pc_of_eligible"].published == 0.135
    for name in ("at_least_10pc_of_eligible", "anhui_13_5pc_of_eligible"):  # eligible who rotated, of the eligible;
        assert cn[name].statistic.metric == "participation_senders"   # the paired counterparts as a second reading
        assert cn[name].alternatives["both_directions"].statistic.metric == "participation"
    assert load_targets(CALIBRATION / "dongcheng_2014.yaml").targets["rotated_september_2014"].published == 1612


GOOD = """name: t
targets:
  a:
    statistic: {metric: rotations, year: 1}
    published: 10
    uncertainty: {at_least: 10}
    denominator: people
    source: DC-2021-08
"""


@pytest.mark.parametrize("change, key, words", [
    (("rotations, year", "rotashuns, year"), "targets.a.statistic.metric", "unknown metric 'rotashuns'"),
    (("DC-2021-08", "NOWHERE"), "targets.a.source", "not a key of docs/sources.md"),
    (("{at_least: 10}", "{at_least: 10, se: 2}"), "targets.a.uncertainty", "exactly one of"),
    (("year: 1}", "year: 1, span: [1, 2]}"), "targets.a.statistic", "either year or span"),
    (("year: 1}", "year: 0, per: {metric: eligible, lag: 1}}"), "targets.a.statistic", "before year 0"),
    (("denominator: people", "denominator: ''"), "targets.a.denominator", "at least 1 character"),
    (("{at_least: 10}", "{interval: [20, 30]}"), "targets.a", "outside its interval"),
    (("published: 10", "published: 10\n    colour: red"), "targets.a.colour", "unknown key"),
    (("published: 10", "published: ten"), "targets.a.published", "valid number"),
])
def test_a_bad_targets_file_is_one_line_naming_file_and_key(tmp_path, change, key, words):
    path = tmp_path / "t.yaml"
    path.write_text(GOOD.replace(*change), encoding="utf-8")
    with pytest.raises(TargetsError) as info:
        load_targets(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg and key in msg and words in msg, msg


def test_a_missing_file_is_one_line(tmp_path):
    with pytest.raises(TargetsError, match="nothing.yaml"):
        load_targets(tmp_path / "nothing.yaml")


ROWS = {("rotations", "all", 1): 30.0, ("rotations", "all", 2): 10.0, ("teachers_in_post", "all", 0): 100.0,
        ("teachers_in_post", "all", 1): 50.0}


def test_statistics_aggregate_years_and_divide_by_the_lagged_denominator():
    assert Statistic(metric="rotations", span=[1, 2], aggregate="sum").value(ROWS) == 40.0
    assert Statistic(metric="rotations", span=[1, 2], aggregate="min").value(ROWS) == 10.0
    per = {"metric": "teachers_in_post", "lag": 1}
    assert Statistic(metric="rotations", span=[1, 2], per=per).value(ROWS) == pytest.approx((0.3 + 0.2) / 2)
    assert math.isnan(Statistic(metric="rotations", span=[1, 3]).value(ROWS))  # year 3 not run
    assert math.isnan(Statistic(metric="rotations", year=1, per={"metric": "hires"}).value(ROWS))


def target(**uncertainty) -> Target:
    return Target(statistic={"metric": "rotations", "year": 1}, published=0.4, uncertainty=uncertainty,
                  denominator="d", source="BJ-REPORT")


def test_met_means_within_the_uncertainty_and_distance_counts_its_units():
    bound = target(at_least=0.4)
    assert bound.met(0.41) and not bound.met(0.39)
    assert bound.distance(0.36) == pytest.approx(1.0)  # 10% of the bound is one unit
    assert target(at_most=0.4).met(0.3) and not target(at_most=0.4).met(0.5)
    se = target(se=0.05)
    assert se.met(0.49) and not se.met(0.51) and se.distance(0.3) == pytest.approx(2.0)
    inside = target(interval=[0.3, 0.5])
    assert inside.met(0.3) and not inside.met(0.55) and inside.distance(0.6) == pytest.approx(1.0)
    assert math.isinf(bound.distance(math.nan)) and not bound.met(math.nan)
