"""Inequality indices over schools, each weighted by students (weights w, values x).

With equal weights every index reduces to its textbook unweighted form (which is how the tests
check them against PySAL's `inequality` package). Zeros are allowed: Theil T and Atkinson take
their limits (0 ln 0 = 0; a zero makes the geometric and harmonic means 0, so Atkinson with
epsilon >= 1 is 1), while Theil L is +inf when any school has none (ln of zero is unbounded).
"""

from __future__ import annotations

import numpy as np


def _prep(x, w):
    x = np.asarray(x, dtype=float)
    w = np.ones_like(x) if w is None else np.asarray(w, dtype=float)
    return x, w


def weighted_mean(x, w=None) -> float:
    x, w = _prep(x, w)
    return float(np.sum(w * x) / np.sum(w))


def weighted_cv(x, w=None) -> float:
    """Coefficient of variation: sqrt(sum_i (w_i/W) (x_i - xbar)^2) / xbar (0 when xbar is 0)."""
    x, w = _prep(x, w)
    if len(x) == 0 or w.sum() <= 0:
        return float("nan")
    xbar = weighted_mean(x, w)
    if xbar == 0:
        return 0.0
    return float(np.sqrt(np.sum(w / w.sum() * (x - xbar) ** 2)) / xbar)


def weighted_gini(x, w=None) -> float:
    """Gini: sum_i sum_j w_i w_j |x_i - x_j| / (2 W^2 xbar), in O(n log n) by sorting."""
    x, w = _prep(x, w)
    if len(x) == 0 or w.sum() <= 0:
        return float("nan")
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    total_w = w.sum()
    xbar = float(np.sum(w * x) / total_w)
    if xbar == 0:
        return 0.0
    below_w = np.cumsum(w) - w  # weight strictly below each x (ties add |0|)
    below_wx = np.cumsum(w * x) - w * x
    pair_sum = float(np.sum(w * (x * below_w - below_wx)))  # sum over pairs i<j of w_i w_j (x_j - x_i)
    return pair_sum / (total_w**2 * xbar)


def theil_t(x, w=None) -> float:
    """Theil T: sum_i s_i ln(x_i / xbar), s_i = w_i x_i / sum_j w_j x_j (resource shares)."""
    x, w = _prep(x, w)
    xbar = weighted_mean(x, w)
    if xbar <= 0:
        return 0.0
    s = w * x / np.sum(w * x)
    pos = x > 0
    return float(np.sum(s[pos] * np.log(x[pos] / xbar)))


def theil_l(x, w=None) -> float:
    """Theil L (mean log deviation): sum_i (w_i / W) ln(xbar / x_i); +inf if some x_i is 0."""
    x, w = _prep(x, w)
    xbar = weighted_mean(x, w)
    if xbar <= 0:
        return 0.0
    if np.any((x <= 0) & (w > 0)):
        return float("inf")
    return float(np.sum(w / w.sum() * np.log(xbar / x)))


def theil_decomposition(x, w, groups, index: str = "T") -> tuple[float, float, float]:
    """Exact split of Theil T or L into (total, between, within) for a partition into groups.

    T: between = sum_g S_g ln(xbar_g / xbar), within = sum_g S_g T_g, S_g the group's share of
    the resource; L: between = sum_g (W_g/W) ln(xbar / xbar_g), within = sum_g (W_g/W) L_g.
    Both pieces are computed directly (not one as the total minus the other).
    """
    x, w = _prep(x, w)
    _, g = np.unique(np.asarray(groups), return_inverse=True)
    w_g = np.bincount(g, weights=w)
    y_g = np.bincount(g, weights=w * x)
    mean_g = np.divide(y_g, w_g, out=np.zeros_like(y_g), where=w_g > 0)
    xbar = float(np.sum(w * x) / np.sum(w))
    if xbar <= 0:
        return 0.0, 0.0, 0.0
    if index == "T":
        share_g = y_g / y_g.sum()
        pos_g = share_g > 0
        between = float(np.sum(share_g[pos_g] * np.log(mean_g[pos_g] / xbar)))
        pos = x > 0
        within = float(np.sum((w * x)[pos] / y_g.sum() * np.log(x[pos] / mean_g[g][pos])))
        return theil_t(x, w), between, within
    if np.any((mean_g <= 0) & (w_g > 0)):
        between = float("inf")
    else:
        between = float(np.sum(w_g / w_g.sum() * np.log(xbar / mean_g)))
    if np.any((x <= 0) & (w > 0)):
        within = float("inf")
    else:
        within = float(np.sum(w / w.sum() * np.log(mean_g[g] / x)))
    return theil_l(x, w), between, within


def atkinson(x, w=None, epsilon: float = 1.0) -> float:
    """Atkinson index: 1 - (equally distributed equivalent) / mean.

    EDE = (sum_i (w_i/W) x_i^(1-e))^(1/(1-e)) for e != 1, and the geometric mean for e = 1.
    """
    x, w = _prep(x, w)
    xbar = weighted_mean(x, w)
    if xbar <= 0:
        return 0.0
    p = w / w.sum()
    if epsilon == 1.0:
        if np.any((x <= 0) & (p > 0)):
            return 1.0
        ede = float(np.exp(np.sum(p * np.log(x))))
    elif epsilon > 1.0 and np.any((x <= 0) & (p > 0)):
        return 1.0
    else:
        ede = float(np.sum(p * x ** (1.0 - epsilon)) ** (1.0 / (1.0 - epsilon)))
    return float(1.0 - ede / xbar)


def weighted_quantile(x, w, q: float) -> float:
    """Quantile of x where each school counts with its weight (lower weighted quantile)."""
    x, w = _prep(x, w)
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order]) / np.sum(w)
    return float(x[order][min(np.searchsorted(cw, q, side="left"), len(x) - 1)])


def max_min_ratio(x) -> float:
    """Largest over smallest school value; +inf when the smallest is 0 and the largest is not."""
    x = np.asarray(x, dtype=float)
    lo, hi = float(x.min()), float(x.max())
    if hi == lo:
        return 1.0
    return hi / lo if lo > 0 else float("inf")


def p90_p10_ratio(x, w=None) -> float:
    """Student-weighted 90th over 10th percentile; +inf when the 10th is 0 and the 90th is not."""
    x, w = _prep(x, w)
    hi, lo = weighted_quantile(x, w, 0.9), weighted_quantile(x, w, 0.1)
    if hi == lo:
        return 1.0
    return hi / lo if lo > 0 else float("inf")


def allocation_inconsistency(teachers, enrolment) -> float:
    """1 - R^2 of an ordinary least-squares fit of teachers on enrolment across schools
    (UNESCO IIEP's consistency of teacher allocation; 0 = perfectly consistent)."""
    t = np.asarray(teachers, dtype=float)
    e = np.asarray(enrolment, dtype=float)
    if len(t) < 3 or np.var(t) == 0 or np.var(e) == 0:
        return 0.0
    r = np.corrcoef(e, t)[0, 1]
    return float(1.0 - r * r)
