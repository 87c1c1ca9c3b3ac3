"""Inequality indices over schools, each weighted by students (weights w, values x).

With equal weights every index reduces to its textbook unweighted form (which is how the tests
check them against PySAL's `inequality` package). Zeros are allowed: Theil T and Atkinson take
their limits (0 ln 0 = 0; a zero makes the geometric and harmonic means 0, so Atkinson with
epsilon >= 1 is 1), while Theil L is +inf when any school has none (ln of zero is unbounded).

The indices are methods of `Sample`, which computes the sums they share (total weight, mean,
shares, sort order) once: a year's metrics take a dozen indices of the same 18 samples (three
groups, six indicators; the per-district means and CVs are whole arrays in the registry). The
functions below are the one-off forms, each a thin wrapper over `Sample`.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np


def _prep(x, w):
    x = np.asarray(x, dtype=float)
    w = np.ones_like(x) if w is None else np.asarray(w, dtype=float)
    return x, w


class Sample:
    """Values x with weights w (None: equal weights), and the pieces several indices share.

    Every piece is computed on first use and kept; each index uses exactly the operations of
    its textbook form, so sharing changes no result.
    """

    def __init__(self, x, w=None):
        self.x, self.w = _prep(x, w)

    # ------------------------------------------------------------------- shared pieces

    @cached_property
    def total_weight(self):
        return self.w.sum()

    @cached_property
    def weighted_values(self) -> np.ndarray:
        """w_i x_i: each school's share of the resource, unnormalised."""
        return self.w * self.x

    @cached_property
    def total(self):
        """sum_i w_i x_i."""
        return self.weighted_values.sum()

    @cached_property
    def mean(self) -> float:
        return float(self.total / self.total_weight)

    @cached_property
    def weight_shares(self) -> np.ndarray:
        """w_i / W."""
        return self.w / self.total_weight

    @cached_property
    def positive(self) -> np.ndarray:
        return self.x > 0

    @cached_property
    def positive_values(self) -> np.ndarray:
        """x_i where x_i > 0 (the schools that enter Theil T's sums)."""
        return self.x[self.positive]

    @cached_property
    def positive_weighted_values(self) -> np.ndarray:
        return self.weighted_values[self.positive]

    @cached_property
    def has_weighted_zero(self) -> bool:
        """Some school with weight has none (x_i <= 0): what makes ln-based indices unbounded."""
        return bool(((self.x <= 0) & (self.w > 0)).any())

    @cached_property
    def order(self) -> np.ndarray:
        """Stable ascending order of x (Gini and quantiles)."""
        return np.argsort(self.x, kind="stable")

    @cached_property
    def sorted_values(self) -> np.ndarray:
        return self.x[self.order]

    @cached_property
    def sorted_weights(self) -> np.ndarray:
        return self.w[self.order]

    @cached_property
    def cumulative_weight_share(self) -> np.ndarray:
        """Share of the weight at or below each sorted value."""
        return np.cumsum(self.sorted_weights) / self.total_weight

    # ------------------------------------------------------------------------- indices

    @cached_property
    def cv(self) -> float:
        """Coefficient of variation: sqrt(sum_i (w_i/W) (x_i - xbar)^2) / xbar (0 when xbar is 0)."""
        if len(self.x) == 0 or self.total_weight <= 0:
            return float("nan")
        xbar = self.mean
        if xbar == 0:
            return 0.0
        return float(np.sqrt((self.weight_shares * (self.x - xbar) ** 2).sum()) / xbar)

    @cached_property
    def gini(self) -> float:
        """Gini: sum_i sum_j w_i w_j |x_i - x_j| / (2 W^2 xbar), in O(n log n) by sorting."""
        if len(self.x) == 0 or self.total_weight <= 0:
            return float("nan")
        x, w = self.sorted_values, self.sorted_weights
        total_w = w.sum()
        xbar = float((w * x).sum() / total_w)
        if xbar == 0:
            return 0.0
        below_w = np.cumsum(w) - w  # weight strictly below each x (ties add |0|)
        below_wx = np.cumsum(w * x) - w * x
        pair_sum = float((w * (x * below_w - below_wx)).sum())  # sum over pairs i<j of w_i w_j (x_j - x_i)
        return pair_sum / (total_w**2 * xbar)

    @cached_property
    def theil_t(self) -> float:
        """Theil T: sum_i s_i ln(x_i / xbar), s_i = w_i x_i / sum_j w_j x_j (resource shares)."""
        xbar = self.mean
        if xbar <= 0:
            return 0.0
        shares = self.weighted_values / self.total
        pos = self.positive  # 0 ln 0 = 0: schools with none drop out
        return float((shares[pos] * np.log(self.positive_values / xbar)).sum())

    @cached_property
    def theil_l(self) -> float:
        """Theil L (mean log deviation): sum_i (w_i / W) ln(xbar / x_i); +inf if some x_i is 0."""
        xbar = self.mean
        if xbar <= 0:
            return 0.0
        if self.has_weighted_zero:
            return float("inf")
        return float((self.weight_shares * np.log(xbar / self.x)).sum())

    def atkinson(self, epsilon: float = 1.0) -> float:
        """Atkinson index: 1 - (equally distributed equivalent) / mean.

        EDE = (sum_i (w_i/W) x_i^(1-e))^(1/(1-e)) for e != 1, and the geometric mean for e = 1.
        """
        x = self.x
        xbar = self.mean
        if xbar <= 0:
            return 0.0
        p = self.weight_shares
        if epsilon == 1.0:
            if ((x <= 0) & (p > 0)).any():
                return 1.0
            ede = float(np.exp((p * np.log(x)).sum()))
        elif epsilon > 1.0 and ((x <= 0) & (p > 0)).any():
            return 1.0
        else:
            ede = float((p * x ** (1.0 - epsilon)).sum() ** (1.0 / (1.0 - epsilon)))
        return float(1.0 - ede / xbar)

    def quantile(self, q: float) -> float:
        """Quantile of x where each school counts with its weight (lower weighted quantile)."""
        cw = self.cumulative_weight_share
        return float(self.sorted_values[min(np.searchsorted(cw, q, side="left"), len(self.x) - 1)])

    @cached_property
    def max_min_ratio(self) -> float:
        """Largest over smallest value; +inf when the smallest is 0 and the largest is not."""
        lo, hi = float(self.x.min()), float(self.x.max())
        if hi == lo:
            return 1.0
        return hi / lo if lo > 0 else float("inf")

    @cached_property
    def p90_p10_ratio(self) -> float:
        """Weighted 90th over 10th percentile; +inf when the 10th is 0 and the 90th is not."""
        hi, lo = self.quantile(0.9), self.quantile(0.1)
        if hi == lo:
            return 1.0
        return hi / lo if lo > 0 else float("inf")

    def split(self, unit: np.ndarray) -> Split:
        """The sample cut into units; `unit` numbers each value's unit 0..k-1 (every number used)."""
        return Split(self, unit)


class Split:
    """A sample partitioned into units: per-unit weight and resource, shared by Theil T and L."""

    def __init__(self, sample: Sample, unit: np.ndarray):
        self.sample, self.unit = sample, unit

    @cached_property
    def unit_weight(self) -> np.ndarray:
        return np.bincount(self.unit, weights=self.sample.w)

    @cached_property
    def unit_total(self) -> np.ndarray:
        return np.bincount(self.unit, weights=self.sample.weighted_values)

    @cached_property
    def unit_mean(self) -> np.ndarray:
        w_g, y_g = self.unit_weight, self.unit_total
        return np.divide(y_g, w_g, out=np.zeros_like(y_g), where=w_g > 0)

    def theil(self, index: str) -> tuple[float, float, float]:
        """(total, between, within) of Theil T or L; see `theil_decomposition`."""
        s = self.sample
        x, g = s.x, self.unit
        w_g, y_g, mean_g = self.unit_weight, self.unit_total, self.unit_mean
        xbar = s.mean
        if xbar <= 0:
            return 0.0, 0.0, 0.0
        if index == "T":
            y = y_g.sum()
            share_g = y_g / y
            pos_g = share_g > 0
            between = float((share_g[pos_g] * np.log(mean_g[pos_g] / xbar)).sum())
            mean_at = mean_g[g[s.positive]]  # each positive school's unit mean
            within = float((s.positive_weighted_values / y * np.log(s.positive_values / mean_at)).sum())
            return s.theil_t, between, within
        if ((mean_g <= 0) & (w_g > 0)).any():
            between = float("inf")
        else:
            between = float((w_g / w_g.sum() * np.log(xbar / mean_g)).sum())
        if s.has_weighted_zero:
            within = float("inf")
        else:
            within = float((s.weight_shares * np.log(mean_g[g] / x)).sum())
        return s.theil_l, between, within


def weighted_mean(x, w=None) -> float:
    return Sample(x, w).mean


def weighted_cv(x, w=None) -> float:
    """Coefficient of variation: sqrt(sum_i (w_i/W) (x_i - xbar)^2) / xbar (0 when xbar is 0)."""
    return Sample(x, w).cv


def weighted_gini(x, w=None) -> float:
    """Gini: sum_i sum_j w_i w_j |x_i - x_j| / (2 W^2 xbar), in O(n log n) by sorting."""
    return Sample(x, w).gini


def theil_t(x, w=None) -> float:
    """Theil T: sum_i s_i ln(x_i / xbar), s_i = w_i x_i / sum_j w_j x_j (resource shares)."""
    return Sample(x, w).theil_t


def theil_l(x, w=None) -> float:
    """Theil L (mean log deviation): sum_i (w_i / W) ln(xbar / x_i); +inf if some x_i is 0."""
    return Sample(x, w).theil_l


def theil_decomposition(x, w, groups, index: str = "T") -> tuple[float, float, float]:
    """Exact split of Theil T or L into (total, between, within) for a partition into groups.

    T: between = sum_g S_g ln(xbar_g / xbar), within = sum_g S_g T_g, S_g the group's share of
    the resource; L: between = sum_g (W_g/W) ln(xbar / xbar_g), within = sum_g (W_g/W) L_g.
    Both pieces are computed directly (not one as the total minus the other).
    """
    sample = Sample(x, w)
    _, g = np.unique(np.asarray(groups), return_inverse=True)
    return sample.split(g).theil(index)


def atkinson(x, w=None, epsilon: float = 1.0) -> float:
    """Atkinson index: 1 - (equally distributed equivalent) / mean.

    EDE = (sum_i (w_i/W) x_i^(1-e))^(1/(1-e)) for e != 1, and the geometric mean for e = 1.
    """
    return Sample(x, w).atkinson(epsilon)


def weighted_quantile(x, w, q: float) -> float:
    """Quantile of x where each school counts with its weight (lower weighted quantile)."""
    return Sample(x, w).quantile(q)


def max_min_ratio(x) -> float:
    """Largest over smallest school value; +inf when the smallest is 0 and the largest is not."""
    return Sample(x).max_min_ratio


def p90_p10_ratio(x, w=None) -> float:
    """Student-weighted 90th over 10th percentile; +inf when the 10th is 0 and the 90th is not."""
    return Sample(x, w).p90_p10_ratio


def allocation_inconsistency(teachers, enrolment) -> float:
    """1 - R^2 of an ordinary least-squares fit of teachers on enrolment across schools
    (UNESCO IIEP's consistency of teacher allocation; 0 = perfectly consistent)."""
    t = np.asarray(teachers, dtype=float)
    e = np.asarray(enrolment, dtype=float)
    if len(t) < 3 or np.var(t) == 0 or np.var(e) == 0:
        return 0.0
    r = np.corrcoef(e, t)[0, 1]
    return float(1.0 - r * r)
