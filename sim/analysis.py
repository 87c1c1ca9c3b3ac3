"""Statistics on results: means with t-intervals, paired scenario differences, SALib sensitivity.

Scenario comparisons are paired: replicate i has the same seed in every scenario, so the
difference from the baseline is taken replicate by replicate and its uncertainty comes from the
spread of those paired differences (a paired t-test), which common random numbers make much
narrower than the difference of two independent means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

LEVEL = 0.95
MEAN_TEST = "mean over replicates; 95% t-interval (n-1 df)"
PAIRED_TEST = "paired t-test, two-sided; 95% t-interval of the mean paired difference (n-1 df)"
RESAMPLES = 1000  # SALib bootstrap resamples behind the confidence intervals


class AnalysisError(ValueError):
    """A request the results cannot answer (wrong folder, outcome, group, year); one line."""


def t_interval(x: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """Mean and the `level` t-interval of the mean; the interval is NaN with fewer than two values."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = float(np.mean(x))
    if n < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * float(np.std(x, ddof=1)) / math.sqrt(n)
    return mean, mean - half, mean + half


def paired_t(d: np.ndarray, level: float = LEVEL) -> tuple[float, float, float, float]:
    """Mean paired difference, its t-interval and the two-sided p-value of a paired t-test.

    With no spread at all (every difference equal) the interval is that one value and p is 1
    when it is zero, 0 otherwise: the t statistic is 0/0 or infinite there.
    """
    d = np.asarray(d, dtype=float)
    mean, lo, hi = t_interval(d, level)
    n = len(d)
    if n < 2:
        return mean, lo, hi, math.nan
    sd = float(np.std(d, ddof=1))
    if sd == 0.0:
        return mean, mean, mean, 1.0 if mean == 0.0 else 0.0
    t = mean / (sd / math.sqrt(n))
    return mean, lo, hi, float(2 * stats.t.sf(abs(t), n - 1))


def parse_outcome(text: str) -> tuple[str, str | None]:
    """`metric` or `metric:group` -> (metric, group or None)."""
    metric, _, group = text.partition(":")
    return metric.strip(), (group.strip() or None)


def paired_summary(metrics: pd.DataFrame, outcomes: list[tuple[str, str]], baseline: str,
                   scenarios: list[str] | None = None, level: float = LEVEL) -> pd.DataFrame:
    """Per outcome, year and scenario: the mean with its t-interval, and the paired difference from
    the baseline with its t-interval and p-value (tidy, one row per outcome/year/scenario).

    Non-finite values (an unbounded index) are left out; `n` says how many replicates were used.
    """
    scenarios = scenarios or list(dict.fromkeys(metrics["scenario"].astype(str)))
    rows = []
    for metric, group in outcomes:
        sub = metrics[(metrics["metric"] == metric) & (metrics["group"] == group)]
        if sub.empty:
            raise KeyError(f"{metric}:{group}")
        seeds = sub.groupby(["year", "replicate"])["seed"].nunique()
        if seeds.max() > 1:
            raise ValueError(f"{metric}:{group}: replicates are not paired (different seeds for one replicate)")
        wide = sub.pivot(index=["year", "replicate"], columns="scenario", values="value")
        for year, block in wide.groupby(level="year", sort=True):
            base = block[baseline].to_numpy(dtype=float)
            for name in scenarios:
                x = block[name].to_numpy(dtype=float)
                ok = np.isfinite(x)
                mean, lo, hi = t_interval(x[ok], level)
                row = {"metric": metric, "group": group, "year": int(year), "scenario": name, "n": int(ok.sum()),
                       "mean": mean, "ci_low": lo, "ci_high": hi}
                if name == baseline:
                    row |= {"diff": 0.0, "diff_ci_low": math.nan, "diff_ci_high": math.nan, "p_value": math.nan,
                            "n_pairs": int(ok.sum()), "test": "baseline"}
                else:
                    both = ok & np.isfinite(base)
                    d, dlo, dhi, p = paired_t(x[both] - base[both], level)
                    row |= {"diff": d, "diff_ci_low": dlo, "diff_ci_high": dhi, "p_value": p,
                            "n_pairs": int(both.sum()), "test": PAIRED_TEST}
                rows.append(row)
    out = pd.DataFrame(rows)
    out["scenario"] = pd.Categorical(out["scenario"], categories=scenarios)
    return out


def comparison_markdown(table: pd.DataFrame, baseline: str, reps: int, seed: int) -> str:
    """The comparison table as Markdown, saying which interval and which test were used."""
    lines = [
        f"# Scenario comparison (baseline: {baseline})",
        "",
        f"{reps} paired replicates from root seed {seed}: replicate i uses the same seed in every scenario.",
        f"Mean: {MEAN_TEST}.",
        f"Difference: scenario minus baseline, replicate by replicate; {PAIRED_TEST}.",
        "",
        "| outcome | group | year | scenario | mean [95% CI] | difference from baseline [95% CI] | p | n |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples(index=False):
        mean = _cell(r.mean, r.ci_low, r.ci_high)
        if r.test == "baseline":
            diff, p = "(baseline)", ""
        else:
            diff = _cell(r.diff, r.diff_ci_low, r.diff_ci_high)
            p = "" if math.isnan(r.p_value) else f"{r.p_value:.3g}"
        lines.append(f"| `{r.metric}` | {r.group} | {r.year} | {r.scenario} | {mean} | {diff} | {p} | {r.n} |")
    return "\n".join(lines) + "\n"


def _cell(v: float, lo: float, hi: float) -> str:
    if math.isnan(v):
        return "-"
    if math.isnan(lo):
        return f"{v:.4g}"
    return f"{v:.4g} [{lo:.4g}, {hi:.4g}]"


# ------------------------------------------------------------------------------- sensitivity


@dataclass
class Sensitivity:
    """Sensitivity indices of one outcome from a sobol or morris sweep."""

    method: str  # "sobol" or "morris"
    table: pd.DataFrame  # one row per parameter
    second_order: pd.DataFrame | None  # sobol with second_order: one row per pair
    scenario: str
    metric: str
    group: str
    year: int
    n_points: int
    replicates: int

    def markdown(self) -> str:
        head = (f"# {self.method.capitalize()} sensitivity of `{self.metric}` ({self.group}, year {self.year}, "
                f"scenario {self.scenario})\n\n"
                f"Model output at each of {self.n_points} design points: the mean over {self.replicates} "
                f"replicate(s). Intervals: 95% bootstrap confidence intervals from SALib ({RESAMPLES} resamples).\n\n")
        if self.method == "sobol":
            lines = ["| parameter | first order S1 [95% CI] | total order ST [95% CI] |", "|---|---|---|"]
            for r in self.table.itertuples(index=False):
                lines.append(f"| `{r.parameter}` | {_pm(r.S1, r.S1_conf)} | {_pm(r.ST, r.ST_conf)} |")
        else:
            lines = ["| parameter | mu* [95% CI] | mu | sigma |", "|---|---|---|---|"]
            for r in self.table.itertuples(index=False):
                lines.append(f"| `{r.parameter}` | {_pm(r.mu_star, r.mu_star_conf)} | {r.mu:.4g} | {r.sigma:.4g} |")
        return head + "\n".join(lines) + "\n"


def _pm(v: float, conf: float) -> str:
    return f"{v:.3g} [{v - conf:.3g}, {v + conf:.3g}]"


def sensitivity_indices(salib: dict, raw: np.ndarray, y: np.ndarray) -> tuple[str, pd.DataFrame, pd.DataFrame | None]:
    """SALib's Sobol (first and total order, optionally second) or Morris indices with 95% intervals."""
    problem = salib["problem"]
    names = problem["names"]
    if salib["method"] == "sobol":
        from SALib.analyze import sobol

        res = sobol.analyze(problem, y, calc_second_order=salib["second_order"], num_resamples=RESAMPLES,
                            conf_level=LEVEL, seed=salib["seed"])
        table = pd.DataFrame({"parameter": names, "S1": res["S1"], "S1_conf": res["S1_conf"],
                              "ST": res["ST"], "ST_conf": res["ST_conf"]})
        pairs = None
        if salib["second_order"]:
            pairs = pd.DataFrame([{"parameter_a": names[i], "parameter_b": names[j], "S2": res["S2"][i, j],
                                   "S2_conf": res["S2_conf"][i, j]}
                                  for i in range(len(names)) for j in range(i + 1, len(names))])
        return "sobol", table, pairs
    from SALib.analyze import morris

    res = morris.analyze(problem, raw, y, num_resamples=RESAMPLES, conf_level=LEVEL,
                         num_levels=salib["levels"], seed=salib["seed"])
    table = pd.DataFrame({"parameter": names, "mu": res["mu"], "mu_star": res["mu_star"], "sigma": res["sigma"],
                          "mu_star_conf": res["mu_star_conf"]})
    return "morris", table, None


def sensitivity(folder, metric: str, group: str | None = None, year: int | None = None,
                scenario: str | None = None) -> Sensitivity:
    """Sensitivity indices of one outcome of a sobol or morris sweep folder.

    The model output at a design point is the outcome's mean over the point's replicates (runs
    that failed are left out; a point with no result at all is an error: resume the sweep first).
    Raises AnalysisError with a one-line message naming the problem.
    """
    from pathlib import Path

    import pyarrow.dataset as ds

    from sim.results import read_runs
    from sim.store import read_manifest

    folder = Path(folder)
    try:
        manifest = read_manifest(folder)
    except ValueError as exc:
        raise AnalysisError(str(exc)) from None
    if manifest.get("kind") != "sweep":
        raise AnalysisError(f"{folder}: not a sweep folder")
    design = manifest["design"]
    salib = design["salib"]
    if salib is None:
        raise AnalysisError(f"{folder}: a {design['kind']} design has no sensitivity indices; use design kind "
                         "sobol or morris")
    names = [b["name"] for b in manifest["bases"]]
    if scenario is None:
        if len(names) > 1:
            raise AnalysisError(f"--scenario: the sweep has several bases ({', '.join(names)}); choose one")
        scenario = names[0]
    elif scenario not in names:
        raise AnalysisError(f"--scenario {scenario}: not a base of this sweep ({', '.join(names)})")
    kept = manifest["spec"]["outcomes"]
    if metric not in kept:
        raise AnalysisError(f"--outcome {metric}: not kept by this sweep (kept: {', '.join(kept)})")
    rows = read_runs(folder, filter=(ds.field("scenario") == scenario) & (ds.field("metric") == metric))
    if rows.empty:
        raise AnalysisError(f"{folder}: no results for {scenario}; run or resume the sweep first")
    groups = list(dict.fromkeys(rows["group"].astype(str)))
    if group is None:
        group = groups[0] if len(groups) == 1 else "all" if "all" in groups else None
        if group is None:
            raise AnalysisError(f"--group: {metric} has several groups ({', '.join(groups)}); choose one")
    elif group not in groups:
        raise AnalysisError(f"--group {group}: {metric} has no such group ({', '.join(groups)})")
    years = sorted(rows["year"].unique())
    year = int(years[-1]) if year is None else year
    if year not in years:
        raise AnalysisError(f"--year {year}: not a simulated year ({years[0]}..{years[-1]})")
    sel = rows[(rows["group"] == group) & (rows["year"] == year)]
    n = design["n_points"]
    y = sel.groupby("point")["value"].mean().reindex(range(n))
    missing = int(y.isna().sum())
    if missing:
        raise AnalysisError(f"{folder}: {missing} of {n} design points have no result for {scenario}; "
                         "resume the sweep (failed runs are run again) before the analysis")
    if not np.isfinite(y.to_numpy()).all():
        raise AnalysisError(f"--outcome {metric}: infinite values at some design points; choose a bounded outcome")
    table = pd.read_parquet(folder / "design.parquet")
    raw = table[[f"raw:{p}" for p in salib["problem"]["names"]]].to_numpy(dtype=float)
    method, indices, pairs = sensitivity_indices(salib, raw, y.to_numpy(dtype=float))
    return Sensitivity(method, indices, pairs, scenario, metric, group, year, n, manifest["spec"]["replicates"])
