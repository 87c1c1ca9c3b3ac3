"""Intervals honest about their sample: the small-sample warning and flags, clipping to the metric's
range, and the planning figure for how many replicates an interval needs."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim.experiments import statistics
from sim.experiments.statistics import (
    MIN_MORRIS_TRAJECTORIES,
    MIN_REPLICATES,
    MIN_SOBOL_BASE,
    SmallSampleWarning,
    comparison_markdown,
    metric_range,
    paired_summary,
    replicate_band,
    replicates_needed,
)
from sim.metrics import REGISTRY


def paired(values_a, values_b, metric="cv_backbone"):
    """A tidy metrics frame of two scenarios on paired seeds, one year."""
    n = len(values_a)
    return pd.DataFrame({"scenario": ["a"] * n + ["b"] * n, "replicate": list(range(n)) * 2,
                         "seed": list(range(n)) * 2, "year": [5] * (2 * n), "metric": [metric] * (2 * n),
                         "group": ["primary"] * (2 * n), "value": [*values_a, *values_b]})


def test_every_registry_unit_has_a_range():
    missing = sorted({m.unit for m in REGISTRY.values()} - set(statistics.UNIT_RANGES))
    assert not missing, f"add these units to sim.experiments.statistics.UNIT_RANGES: {missing}"
    assert metric_range("cv_backbone") == (0.0, math.inf)
    assert metric_range("coverage_eligible") == (0.0, 1.0)
    assert metric_range("gini_backbone") == (0.0, 1.0)
    assert metric_range("achievement_gap") == (-math.inf, math.inf)
    assert metric_range("no_such_metric") == (-math.inf, math.inf)


def test_cv_band_is_cut_at_zero_and_says_so():
    x = [0.02, 0.05, 0.60]  # the t-interval's low end is far below zero
    frame = pd.DataFrame({"metric": "cv_backbone", "year": 1, "value": x})
    with pytest.warns(SmallSampleWarning, match=f"3 replicates, fewer than the {MIN_REPLICATES}"):
        band = replicate_band(frame, ["year"]).iloc[0]
    _, lo, hi = statistics.t_interval(np.array(x))
    assert lo < 0
    assert band["ci_low"] == 0.0 and band["ci_high"] == pytest.approx(hi)
    assert band["clipped"] and band["small_sample"] and band["n"] == 3


def test_share_band_is_cut_at_one_and_an_unbounded_metric_is_not_cut():
    x = [0.99, 1.0, 0.6, 0.98, 1.0]
    share = replicate_band(pd.DataFrame({"metric": "coverage_eligible", "year": 1, "value": x}), ["year"]).iloc[0]
    assert share["ci_high"] == 1.0 and share["clipped"] and not share["small_sample"]
    gap = replicate_band(pd.DataFrame({"metric": "achievement_gap", "year": 1, "value": x}), ["year"]).iloc[0]
    _, lo, hi = statistics.t_interval(np.array(x))
    assert (gap["ci_low"], gap["ci_high"]) == (lo, hi) and hi > 1 and not gap["clipped"]


def test_enough_replicates_give_no_warning():
    frame = pd.DataFrame({"metric": "cv_backbone", "year": 1, "value": np.linspace(0.4, 0.6, MIN_REPLICATES)})
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallSampleWarning)
        band = replicate_band(frame, ["year"]).iloc[0]
    assert not band["small_sample"] and not band["clipped"]


def test_paired_summary_flags_few_pairs_and_clips_both_intervals():
    a, b = [0.30, 0.02, 0.55], [0.35, 0.03, 0.65]
    with pytest.warns(SmallSampleWarning, match="3 paired replicates"):
        table = paired_summary(paired(a, b), [("cv_backbone", "primary")], "a")
    row = table[table["scenario"] == "b"].iloc[0]
    assert row["small_sample"] and row["ci_low"] == 0.0 and row["clipped"]
    assert not row["diff_clipped"]  # a difference of CVs may be negative
    md = comparison_markdown(table, "a", reps=3, seed=1)
    assert "**Small sample:** 3 paired replicates" in md and f"at least {MIN_REPLICATES}" in md
    assert "[0, " in md and "]*" in md

    many = paired_summary(paired(np.linspace(0.4, 0.5, 6), np.linspace(0.5, 0.6, 6)),
                          [("cv_backbone", "primary")], "a")
    assert not many["small_sample"].any() and "Small sample" not in comparison_markdown(many, "a", 6, 1)


def test_a_share_difference_is_cut_to_minus_one_one():
    a, b = [0.0, 0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0, 0.0]
    table = paired_summary(paired(a, b, "coverage_eligible"), [("coverage_eligible", "primary")], "a")
    row = table[table["scenario"] == "b"].iloc[0]
    assert row["diff_ci_high"] == 1.0 and row["diff_clipped"]


def test_replicates_needed_is_the_smallest_count_that_reaches_the_width():
    x = np.array([0.2, 0.5, 0.3, 0.6, 0.4])
    sd = np.std(x, ddof=1)
    n = replicates_needed(x, 0.05)

    def half(k):
        return stats.t.ppf(0.975, k - 1) * sd / math.sqrt(k)

    assert half(n) <= 0.05 < half(n - 1)
    with pytest.raises(ValueError, match="two or more"):
        replicates_needed(np.array([0.3]), 0.05)


def test_sensitivity_base_samples_and_the_minimums():
    assert statistics.base_samples("sobol", 8 * (3 + 2), 3, False) == 8
    assert statistics.base_samples("sobol", 64 * (2 * 3 + 2), 3, True) == 64
    assert statistics.base_samples("morris", 10 * (6 + 1), 6, False) == 10
    assert MIN_SOBOL_BASE >= 64 and MIN_MORRIS_TRAJECTORIES >= 10


def test_sensitivity_intervals_are_cut_to_the_index_range():
    table = pd.DataFrame({"parameter": ["q", "e"], "S1": [0.25, 0.5], "S1_conf": [2.3, 0.1],
                          "ST": [0.84, 0.6], "ST_conf": [3.3, 0.1]})
    sens = statistics.Sensitivity("sobol", table, None, "s", "cv_backbone", "primary", 5, 40, 2, base_samples=8,
                                warning=statistics.small_sample_note(8, MIN_SOBOL_BASE, "base samples"))
    iv = sens.intervals.set_index(["parameter", "index"])
    assert (iv.loc[("q", "S1"), "ci_low"], iv.loc[("q", "S1"), "ci_high"]) == (0.0, 1.0)
    assert iv.loc[("q", "S1"), "clipped"] and not iv.loc[("e", "ST"), "clipped"]
    assert iv.loc[("e", "ST"), "ci_low"] == pytest.approx(0.5)
    md = sens.markdown()
    assert sens.small_sample and "**Small sample:** 8 base samples" in md
    assert "0.25 [0, 1]*" in md and "[-2" not in md


def test_a_tiny_sobol_sweep_warns_and_carries_it(tmp_path):
    from sweep_helpers import write_sweep

    import sim

    path = write_sweep(tmp_path, name="sob", years=1, replicates=1, outcomes=["rotations"],
                       parameters={"policy.programs.0.quota.min_count": {"low": 0, "high": 40, "integer": True}},
                       design={"kind": "sobol", "points": 4, "seed": 2})
    sim.sweep(path, tmp_path / "out", serial=True)
    with pytest.warns(SmallSampleWarning, match=f"4 base samples .*fewer than the {MIN_SOBOL_BASE}"):
        sens = sim.sensitivity(tmp_path / "out", "rotations", year=1)
    assert sens.base_samples == 4 and sens.small_sample and f"points: {MIN_SOBOL_BASE}" in sens.warning
    assert "**Small sample:**" in sens.markdown()
    # the figure draws the cut intervals (an error bar ends at a cut end, or at an estimate that is
    # itself past the range), not SALib's index +/- conf; its title says the sample is small
    from sim.present import plots

    iv = sens.intervals
    assert iv["clipped"].any()
    fig = plots.sensitivity_bars(sens)
    ax = fig.axes[0]
    ends = np.concatenate([seg[:, 0] for c in ax.collections for seg in c.get_segments()])
    allowed = np.concatenate([iv["ci_low"], iv["ci_high"], iv["value"]])
    assert all(np.isclose(allowed, e).any() for e in ends)
    assert "small sample (4 base samples)" in ax.get_title()


def test_against_limit_settles_only_a_clear_interval_from_enough_replicates():
    clear = statistics.against_limit(np.array([0.30, 0.32, 0.31, 0.29, 0.33]), 0.50, "cv_backbone")
    assert clear["below"] and clear["settled"] and clear["needed"] is None
    few = statistics.against_limit(np.array([0.30, 0.32, 0.31]), 0.50, "cv_backbone")
    assert few["below"] and not few["settled"] and few["needed"] == MIN_REPLICATES
    wide = statistics.against_limit(np.array([0.02, 0.70, 0.20, 0.60, 0.10]), 0.50, "cv_backbone")
    assert wide["below"] and not wide["settled"] and wide["ci_low"] == 0.0
    assert wide["needed"] == replicates_needed(np.array([0.02, 0.70, 0.20, 0.60, 0.10]), 0.50 - wide["mean"])
    above = statistics.against_limit(np.array([0.60, 0.62, 0.61, 0.63, 0.60]), 0.50)
    assert not above["below"] and above["settled"]


def test_band_takes_explicit_bounds_for_a_derived_share():
    b = statistics.band(np.array([0.9, 1.0, 0.5]), bounds=(0.0, 1.0))
    assert b["ci_high"] == 1.0 and b["clipped"] and b["small_sample"]
    assert not statistics.band(np.array([0.9, 1.0, 0.5]))["clipped"]
