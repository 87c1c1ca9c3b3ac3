"""Paired scenario comparison: common random numbers, exact zero for identical scenarios, detection
of a real policy effect, the statistics against scipy, and the `compare` command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import BASELINE
from scipy import stats
from sweep_helpers import SWEEP_BASE, TINY, assert_one_line_error, cli

import sim
from sim.config.scenario import ScenarioError
from sim.experiments.run import compare
from sim.experiments.statistics import PAIRED_TEST, paired_summary, paired_t, t_interval
from sim.seeds import replicate_seeds

SMALL = ("world.schools_per_district=20", "world.teachers_per_school=30")
POLICY = SWEEP_BASE  # the policy: one district-wide exchange (scenario name 'exchange'), owned by these tests


@pytest.fixture(scope="module")
def policy_vs_baseline():
    """A district-wide exchange against no rotation: 6 paired replicates, 2 years, a 20-school world."""
    return compare([BASELINE, POLICY], reps=6, years=2, seed=11, overrides=SMALL,
                   outcomes=["cv_backbone:all", "rotations:all", "cv_quality"], at=[1, 2])


def test_replicate_i_has_the_same_seed_in_every_scenario(policy_vs_baseline):
    m = policy_vs_baseline.metrics
    seeds = m.groupby(["scenario", "replicate"], observed=True)["seed"].unique()
    expected = replicate_seeds(11, 6)
    for (_, rep), s in seeds.items():
        assert list(s) == [expected[rep]]
    assert policy_vs_baseline.seeds == expected


def test_compare_runs_what_run_runs(policy_vs_baseline):
    direct = sim.run(POLICY, years=2, reps=6, seed=11, overrides=SMALL).metrics
    mine = policy_vs_baseline.metrics.query("scenario == 'exchange'").reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, direct)


def test_a_real_policy_difference_is_detected(policy_vs_baseline):
    t = policy_vs_baseline.table.set_index(["metric", "subgroup", "year", "scenario"])
    rot = t.loc[("rotations", "all", 1, "exchange")]
    assert rot["diff"] > 0 and rot["diff_ci_low"] > 0 and rot["p_value"] < 0.01
    # rotation spreads backbone teachers: the between-school CV falls, and the interval excludes 0
    cv = t.loc[("cv_backbone", "all", 1, "exchange")]
    assert cv["diff"] < 0 and cv["diff_ci_high"] < 0 and cv["p_value"] < 0.01
    assert cv["test"] == PAIRED_TEST
    base = t.loc[("cv_backbone", "all", 1, "baseline_drift")]
    assert base["test"] == "baseline" and base["diff"] == 0.0


def test_outcome_without_group_expands_to_every_group(policy_vs_baseline):
    groups = policy_vs_baseline.table.query("metric == 'cv_quality'")["subgroup"].unique().tolist()
    assert groups == ["primary", "junior", "all"]
    assert sorted(policy_vs_baseline.table["year"].unique()) == [1, 2]
    assert sorted(policy_vs_baseline.trajectories["year"].unique()) == [0, 1, 2]


def test_identical_scenarios_differ_by_exactly_zero(tmp_path):
    copy = tmp_path / "copy.yaml"
    copy.write_text(f"extends: {POLICY}\nname: exchange_copy\n", encoding="utf-8")
    cmp = compare([POLICY, copy], reps=4, years=2, overrides=TINY, outcomes=["cv_backbone", "rotations:all",
                                                                                 "achievement_gap:all"])
    rows = cmp.trajectories[cmp.trajectories["scenario"] == "exchange_copy"]
    assert len(rows) > 0
    assert (rows["diff"] == 0.0).all()
    assert (rows["diff_ci_low"] == 0.0).all() and (rows["diff_ci_high"] == 0.0).all()
    assert (rows["p_value"] == 1.0).all()
    # and the two scenarios' means are equal too (same seeds, same model)
    means = cmp.trajectories.pivot_table(index=["metric", "subgroup", "year"], columns="scenario", values="mean",
                                         observed=True)
    assert (means["exchange"] == means["exchange_copy"]).all()


def test_paired_t_matches_scipy():
    rng = np.random.default_rng(3)
    a = rng.normal(1.0, 0.3, 12)
    b = a + rng.normal(0.2, 0.1, 12)
    mean, lo, hi, p = paired_t(b - a)
    ref = stats.ttest_rel(b, a)
    ci = ref.confidence_interval(0.95)
    assert p == pytest.approx(ref.pvalue, rel=1e-12)
    assert (lo, hi) == (pytest.approx(ci.low, rel=1e-12), pytest.approx(ci.high, rel=1e-12))
    assert mean == pytest.approx(np.mean(b - a))
    m, lo1, hi1 = t_interval(a)
    ci1 = stats.t.interval(0.95, len(a) - 1, loc=np.mean(a), scale=stats.sem(a))
    assert (lo1, hi1) == (pytest.approx(ci1[0]), pytest.approx(ci1[1]))


def test_paired_summary_refuses_unpaired_replicates():
    m = pd.DataFrame({"scenario": ["a", "a", "b", "b"], "replicate": [0, 1, 0, 1], "seed": [1, 2, 1, 3],
                      "year": [1] * 4, "metric": ["x"] * 4, "subgroup": ["all"] * 4, "value": [1.0, 2.0, 1.5, 2.5]})
    with pytest.raises(ValueError, match="not paired"):
        paired_summary(m, [("x", "all")], "a")


def test_paired_summary_leaves_out_infinite_values():
    m = pd.DataFrame({"scenario": ["a"] * 3 + ["b"] * 3, "replicate": [0, 1, 2] * 2, "seed": [1, 2, 3] * 2,
                      "year": [1] * 6, "metric": ["x"] * 6, "subgroup": ["all"] * 6,
                      "value": [1.0, 2.0, 3.0, 2.0, np.inf, 4.0]})
    row = paired_summary(m, [("x", "all")], "a").query("scenario == 'b'").iloc[0]
    assert row["n"] == 2 and row["n_pairs"] == 2 and row["diff"] == 1.0


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"reps": 1}, "at least 2 replicates"),
    ({"outcomes": ["cv_nonsense"]}, "--outcome cv_nonsense: unknown metric"),
    ({"baseline": "nobody"}, "--baseline nobody: not one of the scenarios"),
    ({"at": [9]}, "--at 9: not a simulated year"),
])
def test_compare_refuses_bad_requests_before_running(kwargs, fragment):
    with pytest.raises(ScenarioError, match=fragment):
        compare([BASELINE, POLICY], years=2, overrides=TINY, **({"reps": 3} | kwargs))


def test_compare_command_writes_table_figures_and_manifest(tmp_path):
    out = tmp_path / "cmp"
    done = cli("compare", BASELINE, POLICY, "--reps", "3", "--years", "2", "--baseline", BASELINE,
               "--outcome", "cv_backbone:primary", "--outcome", "rotations:all", "--out", out, "--quiet",
               *[x for s in TINY for x in ("--set", s)])
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out / "comparison.csv")
    assert set(table["scenario"]) == {"baseline_drift", "exchange"}
    pairs = {("cv_backbone", "primary"), ("rotations", "all")}
    assert set(zip(table["metric"], table["subgroup"], strict=True)) == pairs
    assert (table["year"] == 2).all()
    md = (out / "comparison.md").read_text(encoding="utf-8")
    assert "paired t-test" in md and "(baseline: baseline_drift)" in md
    assert "paired t-test" in done.stdout
    for name in ("trajectories.png", "differences.png"):
        assert (out / "figures" / name).read_bytes()[:4] == b"\x89PNG"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "compare" and manifest["seeds"] == replicate_seeds(manifest["scenarios"][0]["run"]
                                                                                  ["seed"], 3)
    res = sim.load_results(out)
    assert res.kind == "compare"
    assert len(res.metrics) == len(pd.read_parquet(out / "metrics.parquet"))
    pd.testing.assert_frame_equal(res.comparison, table)


def test_compare_command_bad_input_is_exit_2_and_writes_nothing(tmp_path):
    out = tmp_path / "cmp"
    copy = tmp_path / "again.yaml"
    copy.write_text(f"extends: {POLICY}\nname: again\n", encoding="utf-8")
    done = cli("compare", POLICY, POLICY, "--reps", "2", "--out", out, "--quiet")
    assert_one_line_error(done, "both named 'exchange'")
    done = cli("compare", POLICY, copy, "--reps", "2", "--outcome", "cv_backbone:nowhere", "--years", "1",
               "--out", out, "--quiet", "--no-figures", *[x for s in TINY for x in ("--set", s)])
    assert_one_line_error(done, "--outcome cv_backbone:nowhere", "no group 'nowhere'")
    assert not out.exists()


def test_compare_on_local_dask_workers_gives_the_same_numbers(policy_vs_baseline):
    par = compare([BASELINE, POLICY], reps=6, years=2, seed=11, overrides=SMALL, workers=2,
                  outcomes=["cv_backbone:all", "rotations:all", "cv_quality"], at=[1, 2])
    pd.testing.assert_frame_equal(par.metrics, policy_vs_baseline.metrics)
    pd.testing.assert_frame_equal(par.table, policy_vs_baseline.table)


def test_compare_gives_time_averages_paired_over_replicates(policy_vs_baseline):
    """Each replicate's mean over the run's years, then paired: recomputed here from the metric rows."""
    m = policy_vs_baseline.metrics
    sel = m[(m["metric"] == "cv_backbone") & (m["subgroup"] == "all") & (m["year"] >= 1)]
    per_rep = sel.groupby(["scenario", "replicate"], observed=True)["value"].mean().unstack("scenario")
    d = (per_rep["exchange"] - per_rep["baseline_drift"]).to_numpy()
    a = policy_vs_baseline.averages.set_index(["metric", "subgroup", "span", "scenario"])
    row = a.loc[("cv_backbone", "all", "years 1-2", "exchange")]
    assert row["mean"] == pytest.approx(per_rep["exchange"].mean())
    assert row["diff"] == pytest.approx(d.mean())
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    assert row["diff_ci_high"] == pytest.approx(d.mean() + half)
    assert set(policy_vs_baseline.averages["span"]) == {"years 1-2"}  # 2 years: the last five are the run


def test_compare_markdown_gives_every_year_of_the_cvs_and_their_averages(policy_vs_baseline):
    text = policy_vs_baseline.markdown()
    assert "## Time averages" in text and "| `cv_backbone` | all | years 1-2 | exchange |" in text
    path = text[text.index("## Headline CVs, every year"):]
    assert "| outcome | group | scenario | 0 | 1 | 2 |" in path
    t = policy_vs_baseline.trajectories
    want = t[(t["metric"] == "cv_backbone") & (t["scenario"] == "exchange")].sort_values("year")["mean"]
    assert "| `cv_backbone` | all | exchange | " + " | ".join(f"{v:.3f}" for v in want) + " |" in path
    assert "| `rotations` |" not in path  # only the CV outcomes' path


def test_time_averages_of_a_long_run_have_the_last_five_years():
    from sim.experiments.statistics import time_average_summary

    rows = [{"scenario": s, "replicate": r, "seed": r, "year": y, "metric": "cv_backbone", "subgroup": "primary",
             "value": (1.0 if s == "a" else 0.5) + 0.1 * y + 0.01 * r} for s in "ab" for r in range(3)
            for y in range(11)]
    out = time_average_summary(pd.DataFrame(rows), [("cv_backbone", "primary")], "a").set_index(["span", "scenario"])
    assert out.loc[("years 1-10", "a"), "mean"] == pytest.approx(1.0 + 0.55 + 0.01)
    assert out.loc[("years 6-10", "a"), "mean"] == pytest.approx(1.0 + 0.8 + 0.01)
    assert out.loc[("years 6-10", "b"), "diff"] == pytest.approx(-0.5)
def test_compare_takes_any_executor_as_sweep_does(policy_vs_baseline):
    """A new executor needs no change to compare: it is passed in, like sweep's."""
    from sim.experiments.executors import Serial

    class Reversed(Serial):  # finishes tasks in another order, as a cluster may
        def map_unordered(self, fn, items):
            yield from reversed(list(super().map_unordered(fn, items)))

    other = compare([BASELINE, POLICY], reps=6, years=2, seed=11, overrides=SMALL, executor=Reversed(),
                    outcomes=["cv_backbone:all", "rotations:all", "cv_quality"], at=[1, 2])
    pd.testing.assert_frame_equal(other.table, policy_vs_baseline.table)
