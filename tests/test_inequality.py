"""Inequality indices checked against PySAL's `inequality` package, hand-worked examples and
properties that every index must have."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from inequality.atkinson import atkinson as pysal_atkinson
from inequality.gini import Gini
from inequality.theil import Theil, TheilD

from sim.metrics import inequality as ineq
from sim.metrics import official_cv

RNG = np.random.default_rng(20260101)
RANDOM_INPUTS = [RNG.lognormal(0.0, 0.8, n) for n in (5, 17, 60, 200)]


@pytest.mark.parametrize("x", RANDOM_INPUTS)
def test_gini_and_theil_agree_with_pysal(x):
    assert ineq.weighted_gini(x) == pytest.approx(Gini(x).g, abs=1e-9)
    assert ineq.theil_t(x) == pytest.approx(float(np.ravel(Theil(x).T)[0]), abs=1e-9)


@pytest.mark.parametrize("x", RANDOM_INPUTS)
def test_theil_decomposition_agrees_with_pysal(x):
    groups = RNG.integers(0, 4, len(x))
    total, between, within = ineq.theil_decomposition(x, None, groups, "T")
    ref = TheilD(x, groups)
    assert total == pytest.approx(float(np.ravel(ref.T)[0]), abs=1e-9)
    assert between == pytest.approx(float(np.ravel(ref.bg)[0]), abs=1e-9)
    assert within == pytest.approx(float(np.ravel(ref.wg)[0]), abs=1e-9)


@pytest.mark.parametrize("x", RANDOM_INPUTS)
@pytest.mark.parametrize("eps", [0.5, 1.0, 2.0])
def test_atkinson_agrees_with_pysal(x, eps):
    assert ineq.atkinson(x, None, eps) == pytest.approx(float(pysal_atkinson(x, eps)), abs=1e-9)


def test_atkinson_hand_worked():
    # incomes 10, 20, 30, 40, 50; mean 30.
    # e = 1: EDE = geometric mean = (10*20*30*40*50)^(1/5) = 12,000,000^(0.2) = 26.0517...
    #        A = 1 - 26.0517 / 30 = 0.13161
    # e = 2: EDE = harmonic mean = 5 / (1/10 + 1/20 + 1/30 + 1/40 + 1/50) = 5 / 0.228333 = 21.8978
    #        A = 1 - 21.8978 / 30 = 0.27007
    # e = 0.5: EDE = (mean of sqrt(x))^2 = ((3.1623+4.4721+5.4772+6.3246+7.0711)/5)^2 = 5.30146^2 = 28.1055
    #        A = 1 - 28.1055 / 30 = 0.06315
    x = [10, 20, 30, 40, 50]
    assert ineq.atkinson(x, None, 1.0) == pytest.approx(1 - 12_000_000 ** 0.2 / 30, abs=1e-12)
    assert ineq.atkinson(x, None, 1.0) == pytest.approx(0.13161, abs=5e-6)
    assert ineq.atkinson(x, None, 2.0) == pytest.approx(0.27007, abs=5e-6)
    assert ineq.atkinson(x, None, 0.5) == pytest.approx(0.06315, abs=5e-6)


def test_weights_equal_repeated_schools():
    # a school of weight 3 is the same as three identical schools of weight 1
    x = np.array([2.0, 5.0, 9.0, 4.0])
    w = np.array([3, 1, 2, 4])
    xr = np.repeat(x, w)
    for f in (ineq.weighted_gini, ineq.theil_t, ineq.theil_l, ineq.weighted_cv):
        assert f(x, w) == pytest.approx(f(xr), abs=1e-12), f.__name__
    for eps in (0.5, 1.0, 2.0):
        assert ineq.atkinson(x, w, eps) == pytest.approx(ineq.atkinson(xr, None, eps), abs=1e-12)
    groups = np.array([0, 0, 1, 1])
    for index in ("T", "L"):
        got = ineq.theil_decomposition(x, w, groups, index)
        ref = ineq.theil_decomposition(xr, None, np.repeat(groups, w), index)
        assert got == pytest.approx(ref, abs=1e-12)


def test_official_cv_county_example():
    # A made-up county of four primary schools; backbone teachers C and students P:
    #   C = 2, 6, 1, 0   P = 400, 600, 200, 800   -> X = 100 C / P = 0.5, 1.0, 0.5, 0.0
    #   P = 2000, Xbar = 100 * 9 / 2000 = 0.45
    #   sum (P_i/P)(X_i - Xbar)^2 = 0.2*0.0025 + 0.3*0.3025 + 0.1*0.0025 + 0.4*0.2025
    #                             = 0.0005 + 0.09075 + 0.00025 + 0.081 = 0.1725
    #   CV = sqrt(0.1725) / 0.45 = 0.415331 / 0.45 = 0.922958
    assert official_cv([2, 6, 1, 0], [400, 600, 200, 800]) == pytest.approx(math.sqrt(0.1725) / 0.45, abs=1e-12)
    assert official_cv([2, 6, 1, 0], [400, 600, 200, 800]) == pytest.approx(0.922958, abs=1e-6)


@pytest.mark.parametrize("index", ["T", "L"])
def test_decomposition_sums_to_total(index):
    x = RNG.lognormal(0, 0.5, 80)
    w = RNG.integers(50, 2000, 80).astype(float)
    for groups in (RNG.integers(0, 3, 80), RNG.integers(0, 12, 80), np.zeros(80), np.arange(80)):
        total, between, within = ineq.theil_decomposition(x, w, groups, index)
        assert between + within == pytest.approx(total, abs=1e-12)
        assert between >= -1e-12 and within >= -1e-12


def test_decomposition_extremes():
    x = RNG.lognormal(0, 0.5, 30)
    w = RNG.integers(50, 2000, 30).astype(float)
    total, between, within = ineq.theil_decomposition(x, w, np.zeros(30), "T")
    assert between == pytest.approx(0.0, abs=1e-12) and within == pytest.approx(total, abs=1e-12)
    total, between, within = ineq.theil_decomposition(x, w, np.arange(30), "L")
    assert within == pytest.approx(0.0, abs=1e-12) and between == pytest.approx(total, abs=1e-12)


def test_zeros_take_documented_limits():
    x = [0.0, 1.0, 3.0]
    assert math.isinf(ineq.theil_l(x))
    assert ineq.atkinson(x, None, 1.0) == 1.0 and ineq.atkinson(x, None, 2.0) == 1.0
    assert 0 < ineq.atkinson(x, None, 0.5) < 1
    assert math.isinf(ineq.max_min_ratio(x))
    assert ineq.theil_t(x) == pytest.approx(_theil_t_with_zero(x), abs=1e-12)


def _theil_t_with_zero(x):
    # T with 0 ln 0 = 0: only the positive schools contribute, each s_i ln(x_i / xbar)
    x = np.asarray(x, dtype=float)
    xbar = x.mean()
    pos = x > 0
    return float(np.sum(x[pos] / x.sum() * np.log(x[pos] / xbar)))


def test_ratios_and_allocation():
    assert ineq.max_min_ratio([2.0, 4.0, 8.0]) == 4.0
    # weighted P90/P10: a school of weight 8 at 1.0 holds the 10th percentile, the one at 5.0 the 90th
    assert ineq.p90_p10_ratio([1.0, 3.0, 5.0], [8, 1, 8]) == 5.0
    enrol = np.array([100, 200, 300, 400.0])
    assert ineq.allocation_inconsistency(enrol / 20, enrol) == pytest.approx(0.0, abs=1e-12)
    assert ineq.allocation_inconsistency([10, 10, 11, 10], [100, 900, 120, 800]) > 0.5


# ------------------------------------------------------------------------------- properties

values = st.lists(st.floats(min_value=0.01, max_value=1e4, allow_nan=False), min_size=2, max_size=40)
INDICES = {
    "gini": lambda x, w: ineq.weighted_gini(x, w),
    "cv": lambda x, w: ineq.weighted_cv(x, w),
    "theil_t": lambda x, w: ineq.theil_t(x, w),
    "theil_l": lambda x, w: ineq.theil_l(x, w),
    "atkinson_05": lambda x, w: ineq.atkinson(x, w, 0.5),
    "atkinson_1": lambda x, w: ineq.atkinson(x, w, 1.0),
    "atkinson_2": lambda x, w: ineq.atkinson(x, w, 2.0),
}


@settings(max_examples=60, deadline=None)
@given(values, st.floats(min_value=0.01, max_value=1e3))
def test_properties_of_every_index(xs, scale):
    x = np.array(xs)
    w = np.linspace(1.0, 3.0, len(x))
    n = len(x)
    perm = np.roll(np.arange(n), 1)[::-1]
    for name, f in INDICES.items():
        v = f(x, w)
        assert f(np.full(n, x[0]), w) == pytest.approx(0.0, abs=1e-9), name  # equal schools
        assert f(x * scale, w) == pytest.approx(v, rel=1e-7, abs=1e-9), name  # scale invariant
        assert f(x[perm], w[perm]) == pytest.approx(v, rel=1e-9, abs=1e-12), name  # order free
        assert v >= -1e-12, name
    assert ineq.weighted_gini(x, w) < 1.0
    assert ineq.theil_t(x, w) <= math.log(w.sum() / w.min()) + 1e-9  # T <= ln(N) in population units
    for eps in (0.5, 1.0, 2.0):
        assert ineq.atkinson(x, w, eps) <= 1.0
    assert ineq.atkinson(x, w, 0.5) <= ineq.atkinson(x, w, 1.0) + 1e-12 <= ineq.atkinson(x, w, 2.0) + 2e-12
