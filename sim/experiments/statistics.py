"""Statistics on results: means with t-intervals, paired scenario differences, SALib sensitivity.

Scenario comparisons are paired: replicate i has the same seed in every scenario, so the
difference from the baseline is taken replicate by replicate and its uncertainty comes from the
spread of those paired differences (a paired t-test), which common random numbers make much
narrower than the difference of two independent means.

Every interval says how much it can be trusted. Below a stated minimum sample (MIN_REPLICATES
for t-intervals, MIN_SOBOL_BASE and MIN_MORRIS_TRAJECTORIES for sensitivity indices) results
carry `small_sample` and a SmallSampleWarning is emitted. Intervals are clipped to the values
the metric can take (its unit in `sim.metrics.REGISTRY`: a CV is never negative, a share lies in
[0, 1]) and say so in a `clipped` column: a t-interval is symmetric and knows no bounds.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from sim.experiments.spans import RECENT_YEARS, recent_span, span_words

LEVEL = 0.95
MEAN_TEST = "mean over replicates; 95% t-interval (n-1 df)"
PAIRED_TEST = "paired t-test, two-sided; 95% t-interval of the mean paired difference (n-1 df)"
RESAMPLES = 1000  # SALib bootstrap resamples behind the confidence intervals

# Below these a t-interval or an index is not an answer. With n = 5 the 95% t quantile is 2.78
# (4.30 at n = 3, 12.7 at n = 2) and the standard deviation behind it already rests on only 4
# degrees of freedom (the true one lies between 0.6 and 2.9 times the estimate, 95%). Sobol
# estimates from a Saltelli base sample under 64 are mostly sampling noise (the shipped sobol
# sweep uses 64; notebook 04's N = 8 gives intervals of +/- 2 on indices that lie in [0, 1]);
# 10 Morris trajectories is the usual minimum for a screening (Campolongo et al. 2007).
MIN_REPLICATES = 5
MIN_SOBOL_BASE = 64
MIN_MORRIS_TRAJECTORIES = 10

# The values a metric can take, by its unit in sim.metrics.REGISTRY; "quality units" (changes,
# gaps, achievement) may be negative.
INF = math.inf
UNIT_RANGES = {">= 0": (0.0, INF), "ratio": (0.0, INF), "teachers": (0.0, INF), "students": (0.0, INF),
               "minutes": (0.0, INF), "per 100 students": (0.0, INF), "cadres": (0.0, INF), "schools": (0.0, INF),
               "0..1": (0.0, 1.0), "share": (0.0, 1.0),
               "1 = yes": (0.0, 1.0), "quality units": (-INF, INF)}


class AnalysisError(ValueError):
    """A request the results cannot answer (wrong folder, outcome, group, year); one line."""


class SmallSampleWarning(UserWarning):
    """An interval or index from fewer replicates or design points than the stated minimum."""


def metric_range(metric: str | None) -> tuple[float, float]:
    """(low, high) a metric can take, from its registry unit; unbounded for unknown names."""
    from sim.metrics import REGISTRY

    m = REGISTRY.get(metric) if metric else None
    return UNIT_RANGES.get(m.unit, (-INF, INF)) if m else (-INF, INF)


def difference_range(metric: str | None) -> tuple[float, float]:
    """(low, high) a difference of two values of the metric can take."""
    lo, hi = metric_range(metric)
    return lo - hi, hi - lo


def clip(lo: float, hi: float, bounds: tuple[float, float]) -> tuple[float, float, bool]:
    """The interval [lo, hi] cut to `bounds`, and whether it had to be cut (NaN stays NaN)."""
    if math.isnan(lo) or math.isnan(hi):
        return lo, hi, False
    a, b = max(lo, bounds[0]), min(hi, bounds[1])
    return a, b, (a, b) != (lo, hi)


def small_sample_note(n: int, minimum: int = MIN_REPLICATES, what: str = "replicates") -> str | None:
    """One sentence when n is under the minimum, else None."""
    if n >= minimum:
        return None
    return (f"{n} {what}, fewer than the {minimum} below which these intervals are rough guides, "
            "not answers")


def warn_small(n: int, minimum: int = MIN_REPLICATES, what: str = "replicates", where: str = "") -> bool:
    """Emit a SmallSampleWarning when n is under the minimum; returns whether it was."""
    note = small_sample_note(n, minimum, what)
    if note:
        warnings.warn(f"{where}{': ' if where else ''}{note}", SmallSampleWarning, stacklevel=3)
    return note is not None


def replicates_needed(x: np.ndarray, half_width: float, level: float = LEVEL, limit: int = 10_000) -> int:
    """The replicates a t-interval of the mean of x would need to be at most +/- half_width wide,
    taking x's standard deviation as the truth (a planning figure, not a guarantee)."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    sd = float(np.std(x, ddof=1)) if len(x) > 1 else math.nan
    if not half_width > 0 or math.isnan(sd):
        raise ValueError("replicates_needed: needs two or more finite values and a positive half-width")
    # the t quantile exceeds the normal one, so the normal-theory count is a lower bound
    n = max(2, math.ceil((float(stats.norm.ppf(0.5 + level / 2)) * sd / half_width) ** 2))
    while n < limit and float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n) > half_width:
        n += 1
    return n


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


def band(x: np.ndarray, metric: str | None = None, level: float = LEVEL,
         bounds: tuple[float, float] | None = None) -> dict:
    """Mean, t-interval clipped to the metric's range (or `bounds`), n, and the flags `clipped`
    and `small_sample` (fewer than MIN_REPLICATES values); non-finite values are left out."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    mean, lo, hi = t_interval(x, level)
    lo, hi, cut = clip(lo, hi, bounds or metric_range(metric))
    return {"mean": mean, "ci_low": lo, "ci_high": hi, "n": len(x), "clipped": cut,
            "small_sample": len(x) < MIN_REPLICATES}


def replicate_band(frame: pd.DataFrame, keys: list[str], value: str = "value") -> pd.DataFrame:
    """`band` of `value` over replicates for each combination of `keys` (the interval is NaN with a
    single replicate). The range is that of the rows' `metric` when they share one. Emits one
    SmallSampleWarning when any combination has fewer than MIN_REPLICATES values."""
    rows = []
    for key, part in frame.groupby(keys, observed=True, sort=False):
        names = part["metric"].unique() if "metric" in part else []
        metric = str(names[0]) if len(names) == 1 else None
        rows.append(dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
                    | band(part[value].to_numpy(dtype=float), metric))
    out = pd.DataFrame(rows, columns=[*keys, "mean", "ci_low", "ci_high", "n", "clipped", "small_sample"])
    if len(out):
        warn_small(int(out["n"].min()), where="replicate band")
    return out


def against_limit(x: np.ndarray, limit: float, metric: str | None = None, level: float = LEVEL) -> dict:
    """`band` of x and where it lies against `limit`: `below` (the mean is at or under it) and
    `settled` (the whole interval is on the mean's side and there are MIN_REPLICATES values or
    more); when not settled, `needed` is the replicates that would make the interval narrower
    than the mean's distance from the limit (None when the mean is on the limit)."""
    out = band(x, metric, level)
    mean, lo, hi = out["mean"], out["ci_low"], out["ci_high"]
    out["below"] = bool(mean <= limit)
    clear = (hi <= limit) if out["below"] else (lo > limit)
    out["settled"] = bool(clear and not out["small_sample"])
    out["needed"] = None
    if not out["settled"] and out["n"] > 1 and mean != limit:
        out["needed"] = max(MIN_REPLICATES, replicates_needed(x, abs(mean - limit), level))
    return out


def parse_outcome(text: str) -> tuple[str, str | None]:
    """`metric` or `metric:group` -> (metric, group or None)."""
    metric, _, group = text.partition(":")
    return metric.strip(), (group.strip() or None)


def paired_summary(metrics: pd.DataFrame, outcomes: list[tuple[str, str]], baseline: str,
                   scenarios: list[str] | None = None, level: float = LEVEL) -> pd.DataFrame:
    """Per outcome, year and scenario: the mean with its t-interval, and the paired difference from
    the baseline with its t-interval and p-value (tidy, one row per outcome/year/scenario).

    Non-finite values (an unbounded index) are left out; `n` says how many replicates were used.
    Intervals are clipped to the metric's range (`clipped`, `diff_clipped`); `small_sample` marks
    rows from fewer than MIN_REPLICATES pairs, and a SmallSampleWarning is emitted for them.
    """
    scenarios = scenarios or list(dict.fromkeys(metrics["scenario"].astype(str)))
    rows = []
    for metric, group in outcomes:
        sub = metrics[(metrics["metric"] == metric) & (metrics["subgroup"] == group)]
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
                lo, hi, cut = clip(lo, hi, metric_range(metric))
                row = {"metric": metric, "subgroup": group, "year": int(year), "scenario": name, "n": int(ok.sum()),
                       "mean": mean, "ci_low": lo, "ci_high": hi, "clipped": cut}
                if name == baseline:
                    row |= {"diff": 0.0, "diff_ci_low": math.nan, "diff_ci_high": math.nan, "p_value": math.nan,
                            "n_pairs": int(ok.sum()), "test": "baseline", "diff_clipped": False}
                else:
                    both = ok & np.isfinite(base)
                    d, dlo, dhi, p = paired_t(x[both] - base[both], level)
                    dlo, dhi, dcut = clip(dlo, dhi, difference_range(metric))
                    row |= {"diff": d, "diff_ci_low": dlo, "diff_ci_high": dhi, "p_value": p,
                            "n_pairs": int(both.sum()), "test": PAIRED_TEST, "diff_clipped": dcut}
                row["small_sample"] = row["n_pairs"] < MIN_REPLICATES
                rows.append(row)
    out = pd.DataFrame(rows)
    if len(out):
        warn_small(int(out["n_pairs"].min()), what="paired replicates", where="comparison")
    return out


PATH_COLUMNS = 16  # years per table of a trajectory; a longer run gets several tables


def time_average_summary(metrics: pd.DataFrame, outcomes: list[tuple[str, str]], baseline: str,
                         scenarios: list[str] | None = None) -> pd.DataFrame:
    """Paired statistics of each outcome's time averages: each replicate's mean over years 1..last
    and over the last RECENT_YEARS years (one span for a run that short), then the same t-intervals
    and paired differences as a single year's (`paired_summary`), one row per outcome, span and
    scenario (column `span`)."""
    last = int(metrics["year"].max())
    spans = list(dict.fromkeys([(1, last), recent_span(last)]))  # one span when the run is that short
    finite = metrics[np.isfinite(metrics["value"].to_numpy(dtype=float))]
    parts = []
    for k, (lo, hi) in enumerate(spans):
        sel = finite[(finite["year"] >= lo) & (finite["year"] <= hi)]
        avg = (sel.groupby(["scenario", "replicate", "metric", "subgroup"], observed=True)
               .agg(value=("value", "mean"), seed=("seed", "first")).reset_index())
        parts.append(avg.assign(year=k))
    out = paired_summary(pd.concat(parts, ignore_index=True), outcomes, baseline, scenarios)
    out.insert(2, "span", out.pop("year").map({k: span_words(*s) for k, s in enumerate(spans)}))
    return out


def path_tables(trajectories: pd.DataFrame) -> list[pd.DataFrame]:
    """Every year's mean of each CV outcome by scenario (rows: outcome, group, scenario; columns:
    years, in tables of at most PATH_COLUMNS years), as text cells."""
    cvs = trajectories[trajectories["metric"].astype(str).str.startswith("cv_")]
    if cvs.empty:
        return []
    years = sorted(int(y) for y in cvs["year"].unique())
    wide = cvs.pivot_table(index=["metric", "subgroup", "scenario"], columns="year", values="mean", observed=True,
                           sort=False)
    tables = []
    for i in range(0, len(years), PATH_COLUMNS):
        block = years[i:i + PATH_COLUMNS]
        rows = [[f"`{metric}`", group, scenario] + ["-" if math.isnan(row[y]) else f"{row[y]:.3f}" for y in block]
                for (metric, group, scenario), row in wide.iterrows()]
        tables.append(pd.DataFrame(rows, columns=["outcome", "group", "scenario", *[str(y) for y in block]]))
    return tables


def path_markdown(trajectories: pd.DataFrame) -> list[str]:
    """The CV outcomes' every year (Markdown lines)."""
    tables = path_tables(trajectories)
    if not tables:
        return []
    lines = ["", "## Headline CVs, every year", "", "Mean over the paired replicates."]
    for t in tables:
        lines += ["", "| " + " | ".join(t.columns) + " |", "|" + "---|" * len(t.columns)]
        lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in t.itertuples(index=False)]
    return lines


def _table_row(r, when) -> str:
    """One outcome's row of a comparison table (at a year, or over a span of years)."""
    mean = _cell(r.mean, r.ci_low, r.ci_high, r.clipped)
    if r.test == "baseline":
        diff, p = "(baseline)", ""
    else:
        diff = _cell(r.diff, r.diff_ci_low, r.diff_ci_high, r.diff_clipped)
        p = "" if math.isnan(r.p_value) else f"{r.p_value:.3g}"
    return f"| `{r.metric}` | {r.subgroup} | {when} | {r.scenario} | {mean} | {diff} | {p} | {r.n} |"


def averages_markdown(averages: pd.DataFrame) -> list[str]:
    """The time averages' table (Markdown lines): means and paired differences with intervals."""
    if averages is None or averages.empty:
        return []
    lines = ["", "## Time averages", "",
             "Each replicate's mean over the run and over its last "
             f"{RECENT_YEARS} years, then the same intervals and paired test as a single year's.", "",
             "| outcome | group | years | scenario | mean [95% CI] | difference from baseline [95% CI] | p | n |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [_table_row(r, r.span) for r in averages.itertuples(index=False)]
    return lines


def comparison_markdown(table: pd.DataFrame, baseline: str, reps: int, seed: int,
                        trajectories: pd.DataFrame | None = None,
                        averages: pd.DataFrame | None = None) -> str:
    """The comparison table as Markdown, saying which interval and which test were used; with
    `trajectories` and `averages`, every year of the CV outcomes and their time averages too."""
    lines = [
        f"# Scenario comparison (baseline: {baseline})",
        "",
        f"{reps} paired replicates from root seed {seed}: replicate i uses the same seed in every scenario.",
        f"Mean: {MEAN_TEST}.",
        f"Difference: scenario minus baseline, replicate by replicate; {PAIRED_TEST}.",
        "Intervals are cut to the values the outcome can take (a CV is never negative, a share lies in "
        "[0, 1]); an interval cut so is marked *.",
    ]
    note = small_sample_note(int(table["n_pairs"].min()) if len(table) else reps, what="paired replicates")
    if note:
        lines.append(f"**Small sample:** {note}; at least {MIN_REPLICATES} are needed before an interval "
                     "here is read as an answer.")
    lines += [
        "",
        "| outcome | group | year | scenario | mean [95% CI] | difference from baseline [95% CI] | p | n |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [_table_row(r, r.year) for r in table.itertuples(index=False)]
    lines += averages_markdown(averages)
    if trajectories is not None:
        lines += path_markdown(trajectories)
    return "\n".join(lines) + "\n"


def _cell(v: float, lo: float, hi: float, clipped: bool = False) -> str:
    if math.isnan(v):
        return "-"
    if math.isnan(lo):
        return f"{v:.4g}"
    return f"{v:.4g} [{lo:.4g}, {hi:.4g}]{'*' if clipped else ''}"


# ------------------------------------------------------------------------------- sensitivity


@dataclass
class Sensitivity:
    """Sensitivity indices of one outcome from a sobol or morris sweep.

    `table` holds SALib's numbers (index and the half-width `_conf` of its 95% interval);
    `intervals` the same intervals cut to the index's range (Sobol indices in [0, 1], mu* >= 0).
    `base_samples` is the Saltelli base sample N (sobol) or the number of trajectories (morris);
    under MIN_SOBOL_BASE or MIN_MORRIS_TRAJECTORIES `warning` says so and `small_sample` is set.
    """

    method: str  # "sobol" or "morris"
    table: pd.DataFrame  # one row per parameter
    second_order: pd.DataFrame | None  # sobol with second_order: one row per pair
    scenario: str
    metric: str
    group: str
    year: int
    n_points: int
    replicates: int
    base_samples: int = 0
    warning: str | None = None

    @property
    def small_sample(self) -> bool:
        return self.warning is not None

    @property
    def intervals(self) -> pd.DataFrame:
        """One row per parameter and index: value, 95% interval cut to the range, `clipped`."""
        ranges = {"S1": (0.0, 1.0), "ST": (0.0, 1.0)} if self.method == "sobol" else {"mu_star": (0.0, INF)}
        rows = []
        for r in self.table.itertuples(index=False):
            for name, bounds in ranges.items():
                v, conf = getattr(r, name), getattr(r, f"{name}_conf")
                lo, hi, cut = clip(v - conf, v + conf, bounds)
                rows.append({"parameter": r.parameter, "index": name, "value": v, "ci_low": lo, "ci_high": hi,
                             "clipped": cut})
        return pd.DataFrame(rows, columns=["parameter", "index", "value", "ci_low", "ci_high", "clipped"])

    def markdown(self) -> str:
        head = (f"# {self.method.capitalize()} sensitivity of `{self.metric}` ({self.group}, year {self.year}, "
                f"scenario {self.scenario})\n\n"
                f"Model output at each of {self.n_points} design points: the mean over {self.replicates} "
                f"replicate(s). Intervals: 95% bootstrap confidence intervals from SALib ({RESAMPLES} resamples), "
                "cut to the index's range (an interval cut so is marked *).\n\n")
        if self.warning:
            head += f"**Small sample:** {self.warning}.\n\n"
        cells = {(r.parameter, r.index): f"{r.value:.3g} [{r.ci_low:.3g}, {r.ci_high:.3g}]{'*' if r.clipped else ''}"
                 for r in self.intervals.itertuples(index=False)}
        if self.method == "sobol":
            lines = ["| parameter | first order S1 [95% CI] | total order ST [95% CI] |", "|---|---|---|"]
            for r in self.table.itertuples(index=False):
                lines.append(f"| `{r.parameter}` | {cells[r.parameter, 'S1']} | {cells[r.parameter, 'ST']} |")
        else:
            lines = ["| parameter | mu* [95% CI] | mu | sigma |", "|---|---|---|---|"]
            for r in self.table.itertuples(index=False):
                lines.append(f"| `{r.parameter}` | {cells[r.parameter, 'mu_star']} | {r.mu:.4g} | {r.sigma:.4g} |")
        return head + "\n".join(lines) + "\n"


def base_samples(method: str, n_points: int, n_parameters: int, second_order: bool) -> int:
    """Saltelli base sample N (sobol: N (D + 2) points, N (2D + 2) with second order) or the number
    of Morris trajectories (r (D + 1) points)."""
    if method == "sobol":
        return n_points // ((2 if second_order else 1) * n_parameters + 2)
    return n_points // (n_parameters + 1)


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

    from sim.storage.results import parameter_columns, read_design

    folder = Path(folder)
    manifest = _salib_sweep_manifest(folder)
    salib = manifest["design"]["salib"]
    scenario = _chosen_base(manifest, scenario)
    rows = _outcome_rows(folder, manifest, scenario, metric)
    group = _chosen_group(rows, metric, group)
    year = _chosen_year(rows, year)
    n = manifest["design"]["n_points"]
    y = _point_outputs(folder, rows, group, year, n, scenario, metric)
    try:
        table = read_design(folder, manifest)
    except ValueError as exc:
        raise AnalysisError(str(exc)) from None
    columns = parameter_columns(manifest)
    raw = table[[f"raw_{columns[p]}" for p in salib["problem"]["names"]]].to_numpy(dtype=float)
    method, indices, pairs = sensitivity_indices(salib, raw, y.to_numpy(dtype=float))
    base = base_samples(method, n, len(salib["problem"]["names"]), bool(salib.get("second_order")))
    minimum, what = ((MIN_SOBOL_BASE, "base samples (Saltelli N)") if method == "sobol"
                     else (MIN_MORRIS_TRAJECTORIES, "trajectories"))
    note = small_sample_note(base, minimum, what)
    if note:
        note += f" (design `points: {base}`; use `points: {minimum}` or more)"
        warnings.warn(f"{folder.name}: {note}", SmallSampleWarning, stacklevel=2)
    return Sensitivity(method, indices, pairs, scenario, metric, group, year, n, manifest["spec"]["replicates"],
                       base, note)


def _salib_sweep_manifest(folder) -> dict:
    """The manifest of a sweep whose design SALib can analyse (sobol or morris); only those
    designs place their points so that indices can be estimated from them."""
    from sim.storage.store import read_manifest

    try:
        manifest = read_manifest(folder)
    except ValueError as exc:
        raise AnalysisError(str(exc)) from None
    if manifest.get("kind") != "sweep":
        raise AnalysisError(f"{folder}: not a sweep folder")
    design = manifest["design"]
    if design["salib"] is None:
        raise AnalysisError(f"{folder}: a {design['kind']} design has no sensitivity indices; use design kind "
                            "sobol or morris")
    return manifest


def _chosen_base(manifest: dict, scenario: str | None) -> str:
    """The base scenario to analyse: the sweep's only one, or the one asked for (indices are per base)."""
    names = [b["name"] for b in manifest["bases"]]
    if scenario is None:
        if len(names) > 1:
            raise AnalysisError(f"--scenario: the sweep has several bases ({', '.join(names)}); choose one")
        return names[0]
    if scenario not in names:
        raise AnalysisError(f"--scenario {scenario}: not a base of this sweep ({', '.join(names)})")
    return scenario


def _outcome_rows(folder, manifest: dict, scenario: str, metric: str) -> pd.DataFrame:
    """The outcome's rows of one base, read only from run files that pass their checksums (a
    ResultsError names the others)."""
    import pyarrow.dataset as ds

    from sim.storage.results import read_runs

    kept = manifest["spec"]["outcomes"]
    if metric not in kept:
        raise AnalysisError(f"--outcome {metric}: not kept by this sweep (kept: {', '.join(kept)})")
    try:
        rows = read_runs(folder, filter=(ds.field("scenario") == scenario) & (ds.field("metric") == metric))
    except ValueError as exc:
        raise AnalysisError(str(exc)) from None
    if rows.empty:
        raise AnalysisError(f"{folder}: no results for {scenario}; run or resume the sweep first")
    return rows


def _chosen_group(rows: pd.DataFrame, metric: str, group: str | None) -> str:
    """The outcome's subgroup: the one asked for, its only one, or "all"; else the caller must choose."""
    groups = list(dict.fromkeys(rows["subgroup"].astype(str)))
    if group is None:
        group = groups[0] if len(groups) == 1 else "all" if "all" in groups else None
        if group is None:
            raise AnalysisError(f"--group: {metric} has several groups ({', '.join(groups)}); choose one")
    elif group not in groups:
        raise AnalysisError(f"--group {group}: {metric} has no such group ({', '.join(groups)})")
    return group


def _chosen_year(rows: pd.DataFrame, year: int | None) -> int:
    """The year asked for (a simulated one), or the last."""
    years = sorted(rows["year"].unique())
    year = int(years[-1]) if year is None else year
    if year not in years:
        raise AnalysisError(f"--year {year}: not a simulated year ({years[0]}..{years[-1]})")
    return year


def _point_outputs(folder, rows: pd.DataFrame, group: str, year: int, n: int, scenario: str,
                   metric: str) -> pd.Series:
    """The model output at each of the n design points, the mean over its replicates. SALib's
    estimators need every point and finite values, so a missing or infinite one is an error."""
    sel = rows[(rows["subgroup"] == group) & (rows["year"] == year)]
    y = sel.groupby("point")["value"].mean().reindex(range(n))
    missing = int(y.isna().sum())
    if missing:
        raise AnalysisError(f"{folder}: {missing} of {n} design points have no result for {scenario}; "
                            "resume the sweep (failed runs are run again) before the analysis")
    if not np.isfinite(y.to_numpy()).all():
        raise AnalysisError(f"--outcome {metric}: infinite values at some design points; choose a bounded outcome")
    return y
