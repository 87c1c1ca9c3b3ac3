"""Metric formulas: the official CV and the weighted Gini, against hand and brute-force values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import DONGCHENG, scenario
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.core.model import RotationModel
from sim.metrics import REGISTRY, official_cv, weighted_cv, weighted_gini

# ---------------------------------------------------------------------------- official CV


def test_official_cv_hand_computed_example():
    counts = [10, 20, 30]
    enrol = [100, 200, 600]
    # X_i = 100 C_i / P_i = [10, 10, 5]; P = 900; weights P_i/P = [1/9, 2/9, 6/9]
    # Xbar = 100 * 60 / 900 = 20/3
    # deviations X_i - Xbar = [10/3, 10/3, -5/3]; squares = [100/9, 100/9, 25/9]
    # sum_i (P_i/P)(X_i - Xbar)^2 = (1*100 + 2*100 + 6*25) / 81 = 450/81 = 50/9
    # CV = sqrt(50/9) / (20/3) = (sqrt(50)/3) * (3/20) = sqrt(50)/20 = sqrt(2)/4 ~= 0.3535534
    assert official_cv(counts, enrol) == pytest.approx(math.sqrt(2) / 4, rel=1e-12)


def test_official_cv_second_hand_example():
    # counts [1, 3], enrolment [100, 100]: X = [1, 3], Xbar = 2, weights 1/2 each
    # variance = (1/2)(1) + (1/2)(1) = 1; CV = 1/2
    assert official_cv([1, 3], [100, 100]) == pytest.approx(0.5, rel=1e-12)


def test_official_cv_zero_for_equal_schools():
    # every school has 6 per 100 students
    assert official_cv([6, 12, 30, 60], [100, 200, 500, 1000]) == pytest.approx(0.0, abs=1e-12)
    assert official_cv([0, 0, 0], [100, 200, 300]) == 0.0  # nothing anywhere: defined as 0


@given(
    st.lists(st.tuples(st.integers(0, 500), st.integers(1, 5000)), min_size=2, max_size=30),
    st.floats(0.01, 1000.0),
)
@settings(max_examples=60, deadline=None)
def test_official_cv_invariant_to_scaling_counts(pairs, k):
    counts = np.array([c for c, _ in pairs], dtype=float)
    enrol = np.array([p for _, p in pairs], dtype=float)
    base = official_cv(counts, enrol)
    # relative tolerance 1e-9: only floating-point rounding differs
    assert official_cv(k * counts, enrol) == pytest.approx(base, rel=1e-9, abs=1e-12)
    # ... and to scaling every school's enrolment by the same factor
    assert official_cv(counts, k * enrol) == pytest.approx(base, rel=1e-9, abs=1e-12)


@given(st.lists(st.tuples(st.integers(0, 500), st.integers(1, 5000)), min_size=1, max_size=30))
@settings(max_examples=60, deadline=None)
def test_official_cv_matches_direct_formula(pairs):
    c = np.array([a for a, _ in pairs], dtype=float)
    p = np.array([b for _, b in pairs], dtype=float)
    x = 100 * c / p
    xbar = 100 * c.sum() / p.sum()
    expected = 0.0 if xbar == 0 else math.sqrt(sum((pi / p.sum()) * (xi - xbar) ** 2
                                                   for pi, xi in zip(p, x, strict=True))) / xbar
    assert official_cv(c, p) == pytest.approx(expected, rel=1e-9, abs=1e-12)  # rounding only
    assert official_cv(c, p) >= 0


def test_weighted_cv_empty_is_nan():
    assert math.isnan(weighted_cv(np.array([]), np.array([])))


# ---------------------------------------------------------------------------------- Gini


def brute_gini(x, w):
    x = np.asarray(x, dtype=float)
    w = np.asarray(w, dtype=float)
    big_w = w.sum()
    xbar = np.sum(w * x) / big_w
    total = 0.0
    for i in range(len(x)):
        for j in range(len(x)):
            total += w[i] * w[j] * abs(x[i] - x[j])
    return total / (2 * big_w**2 * xbar)


@pytest.mark.parametrize("seed", range(8))
def test_weighted_gini_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    x = rng.lognormal(0, 1, n)
    w = rng.uniform(0.1, 50, n)
    if seed % 2:
        x = np.round(x, 1)  # with ties
    assert weighted_gini(x, w) == pytest.approx(brute_gini(x, w), abs=1e-12)


@given(st.lists(st.tuples(st.floats(0, 1e3), st.floats(0.01, 1e3)), min_size=1, max_size=25))
@settings(max_examples=80, deadline=None)
def test_weighted_gini_matches_brute_force_property(pairs):
    x = np.array([a for a, _ in pairs])
    w = np.array([b for _, b in pairs])
    if np.sum(w * x) == 0:
        assert weighted_gini(x, w) == 0.0
        return
    assert weighted_gini(x, w) == pytest.approx(brute_gini(x, w), rel=1e-9, abs=1e-12)  # rounding only
    assert -1e-12 <= weighted_gini(x, w) <= 1.0


def test_weighted_gini_zero_for_equal_values():
    assert weighted_gini(np.full(7, 3.5), np.arange(1, 8)) == pytest.approx(0.0, abs=1e-15)
    assert weighted_gini(np.full(4, 2.0)) == pytest.approx(0.0, abs=1e-15)
    assert weighted_gini(np.zeros(3)) == 0.0


@pytest.mark.parametrize("seed", range(5))
def test_unweighted_gini_equals_textbook_formula(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(2, 80))
    x = rng.gamma(2.0, 3.0, n)
    # textbook (sorted ascending, ranks i = 1..n): G = 2 sum_i i x_(i) / (n sum x) - (n + 1) / n
    xs = np.sort(x)
    ranks = np.arange(1, n + 1)
    textbook = 2 * np.sum(ranks * xs) / (n * xs.sum()) - (n + 1) / n
    assert weighted_gini(x) == pytest.approx(textbook, abs=1e-12)
    assert weighted_gini(x, np.ones(n)) == pytest.approx(textbook, abs=1e-12)


def test_gini_hand_example():
    # x = [1, 3] unweighted: sum_ij |xi - xj| = 2*2 = 4; 2 n^2 xbar = 2*4*2 = 16 -> 0.25
    assert weighted_gini(np.array([1.0, 3.0])) == pytest.approx(0.25, abs=1e-15)
    # one holder of everything among n: G = (n - 1) / n
    assert weighted_gini(np.array([0, 0, 0, 8.0])) == pytest.approx(0.75, abs=1e-15)


def test_gini_integer_weights_equal_repeated_values():
    x = np.array([1.0, 2.0, 7.0])
    w = np.array([3, 1, 2])
    assert weighted_gini(x, w) == pytest.approx(weighted_gini(np.repeat(x, w)), abs=1e-12)


# ------------------------------------------------------------------------------- registry


def test_registry_names_are_unique_snake_case_and_documented():
    for name, m in REGISTRY.items():
        assert name == m.name
        assert name.replace("_", "").isalnum() and name == name.lower()
        assert m.label and m.unit and m.groups and m.formula


def test_model_reports_every_registered_metric():
    # all 16 districts, so that rural schools exist for the urban-rural gap
    model = RotationModel(scenario(DONGCHENG, "world.preset=beijing", "world.schools_per_district=8",
                                   "world.teachers_per_school=20"), rng=2)
    model.run_for(1)
    reported = {m for y, m, g, v in model.metric_rows if y == 1}
    assert set(REGISTRY) <= reported, sorted(set(REGISTRY) - reported)
    assert reported <= set(REGISTRY), sorted(reported - set(REGISTRY))
    for _, name, _, v in model.metric_rows:
        assert np.isfinite(v) or (v == np.inf and REGISTRY[name].may_be_infinite), (name, v)
