"""Figures: each a function from tidy frames to a matplotlib Figure (seaborn styled).

Imported only where figures are made, so the command line stays quick to start. Runs:
`cv_trajectories`, `cv_by_scenario`, `rotation_activity`, `coverage_curves`, `lorenz_curves`,
`flow_heatmap`, `quality_by_tier`, `network_map` (the place graph with flows); comparisons:
`compare_trajectories`, `compare_differences`, `difference_forest`; sweeps: `sweep_response`,
`sensitivity_bars`; policy searches: `search_front`, `search_convergence` (tested in
tests/test_optimize.py). Each test in tests/test_plots.py renders one from a frozen fixture.

The two figures every run writes (`cv_trajectories`, `rotation_activity`) are drawn with
matplotlib alone in seaborn's look (`RUN_THEME`), so `teachersim run` does not import seaborn
(and through it scipy.stats): about 1.2 s of a 3 s run. The other figures import seaborn on
first use.
"""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path

from sim.present.run_figures import (  # first: it chooses the backend before pyplot is imported  # noqa: F401
    DEEP,  # these pieces of the run figures are also named here, as before
    RUN_THEME,
    TERM_END_COLOUR,
    TITLE_AT_TOP,
    activity_figure,
    band_line,
    band_polygons,
    cv_figure,
    lay_out,
    mark_term_ends,
    png_bytes,
    run_theme,
    write_run_figures,
)

# isort: split
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import MatplotlibDeprecationWarning
from matplotlib.ticker import MaxNLocator

from sim.codes import TIERS
from sim.metrics import BASIC_CV, HIGH_QUALITY_CV, INDICATORS, REGISTRY
from sim.present.bands import (  # noqa: F401
    ACTIVITY_PAIRS,
    CV_PAIRS,
    LEGEND_LABELS,
    run_figure_data,
    scenario_title,
    year_bands,
)


class _Seaborn:
    """seaborn, imported on first use (it costs about 1.2 s to import, scipy.stats included)."""

    def __getattr__(self, name: str):
        return getattr(importlib.import_module("seaborn"), name)


sns = _Seaborn()

def cv_trajectories(metrics: pd.DataFrame, term_ends: list[int] | None = None) -> plt.Figure:
    """Official CV of each teacher indicator over the years, one panel per level, with the
    high-quality limit as a dashed line and, when given, the years the first rotators' terms end
    as dotted lines; the band spans the replicates (mean and 95% interval of the replicate values
    when there are several)."""
    return cv_figure(year_bands(metrics, CV_PAIRS), scenario_title(metrics), term_ends)


def rotation_activity(metrics: pd.DataFrame, term_ends: list[int] | None = None) -> plt.Figure:
    """Rotations started and rotators returning home per year, and the cumulative coverage of
    the eligible cohort; dotted lines at the years the first rotators' terms end, when given."""
    return activity_figure(year_bands(metrics, ACTIVITY_PAIRS), term_ends)


def save_run_figures(metrics: pd.DataFrame, folder: Path, scenario=None) -> list[Path]:
    """The run's standard figures as PNG files in `folder` (with `scenario`, its first term ends
    marked): `sim.present.run_figures` given what `sim.present.bands.run_figure_data` takes from the run."""
    return write_run_figures(run_figure_data(metrics, scenario), folder)


def _panels(n: int, width: float = 4.2, height: float = 3.3):
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def mark_scenario_term_ends(ax, term_ends: dict[str, list[int]] | None, colours: dict, label: bool = True) -> None:
    """`mark_term_ends` for a comparison: each scenario's first term ends, dotted in its colour."""
    first = True
    for name, years in (term_ends or {}).items():
        for year in years:
            ax.axvline(year, color=colours.get(name, TERM_END_COLOUR), linestyle=":", linewidth=1.2, zorder=1,
                       gid="term_end", label="terms of year-1 rotators end (scenario's colour)"
                       if label and first else "_nolegend_")
            first = False


def _scenario_colours(trajectories: pd.DataFrame) -> dict:
    """One colour per scenario, in the comparison's order, the same in every comparison figure."""
    col = trajectories["scenario"]
    names = [str(c) for c in col.cat.categories] if isinstance(col.dtype, pd.CategoricalDtype) else \
        list(dict.fromkeys(col.astype(str)))
    return dict(zip(names, sns.color_palette(n_colors=len(names)), strict=True))


def compare_trajectories(trajectories: pd.DataFrame, baseline: str,
                         term_ends: dict[str, list[int]] | None = None) -> plt.Figure:
    """Each outcome over the years, one line per scenario, the band its 95% t-interval over replicates;
    `term_ends` (scenario -> years) marks when each scenario's first rotators go home."""
    sns.set_theme(style="whitegrid", context="notebook")
    outcomes = list(dict.fromkeys(zip(trajectories["metric"], trajectories["subgroup"], strict=True)))
    colours = _scenario_colours(trajectories)
    scenarios = list(colours)
    fig, axes = _panels(len(outcomes))
    for ax, (metric, group) in zip(axes, outcomes, strict=True):
        part = trajectories[(trajectories["metric"] == metric) & (trajectories["subgroup"] == group)]
        for name in scenarios:
            s = part[part["scenario"].astype(str) == name].sort_values("year")
            ax.plot(s["year"], s["mean"], color=colours[name], label=name,
                    linewidth=2.2 if name == baseline else 1.6, linestyle="--" if name == baseline else "-")
            ax.fill_between(s["year"], s["ci_low"], s["ci_high"], color=colours[name], alpha=0.2, linewidth=0)
        mark_scenario_term_ends(ax, term_ends, colours, label=ax is axes[0])
        limit = threshold_of(metric, group)
        if limit is not None:
            ax.axhline(limit, color="black", linestyle=(0, (4, 2)), linewidth=1, label=f"limit {limit:.2f}")
        ax.set_title(f"{metric} ({group})", fontsize=10)
        ax.set_xlabel("year")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend(fontsize=8)
    fig.suptitle("Scenario means with 95% t-intervals over paired replicates (baseline dashed; black: official "
                 "limit)")
    lay_out(fig)
    return fig


def compare_differences(trajectories: pd.DataFrame, baseline: str,
                        term_ends: dict[str, list[int]] | None = None) -> plt.Figure:
    """Each scenario minus the baseline, replicate by replicate: mean paired difference and its 95% interval;
    `term_ends` as in `compare_trajectories`."""
    sns.set_theme(style="whitegrid", context="notebook")
    outcomes = list(dict.fromkeys(zip(trajectories["metric"], trajectories["subgroup"], strict=True)))
    colours = _scenario_colours(trajectories)
    others = [s for s in colours if s != baseline]
    fig, axes = _panels(len(outcomes))
    for ax, (metric, group) in zip(axes, outcomes, strict=True):
        part = trajectories[(trajectories["metric"] == metric) & (trajectories["subgroup"] == group)]
        ax.axhline(0.0, color="black", linewidth=1)
        for name in others:
            s = part[part["scenario"].astype(str) == name].sort_values("year")
            ax.plot(s["year"], s["diff"], color=colours[name], label=name)
            ax.fill_between(s["year"], s["diff_ci_low"], s["diff_ci_high"], color=colours[name], alpha=0.25,
                            linewidth=0)
        mark_scenario_term_ends(ax, term_ends, colours, label=ax is axes[0])
        ax.set_title(f"{metric} ({group})", fontsize=10)
        ax.set_xlabel("year")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(f"minus {baseline}", fontsize=8)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Paired differences from {baseline} with 95% paired-t intervals")
    lay_out(fig)
    return fig


def comparison_pngs(trajectories: pd.DataFrame, baseline: str, term_ends: dict[str, list[int]] | None) -> dict:
    """A comparison folder's two figures as PNG bytes by file name (`sim.present.outputs.write_comparison`)."""
    return {f"figures/{name}.png": png_bytes(make(trajectories, baseline, term_ends))
            for name, make in (("trajectories", compare_trajectories), ("differences", compare_differences))}


def sensitivity_bars(sens) -> plt.Figure:
    """Sobol first- and total-order indices (or Morris mu* ) per parameter with 95% intervals, cut to
    the index's range (`Sensitivity.intervals`); the title says when the sample is under the minimum."""
    sns.set_theme(style="whitegrid", context="notebook")
    t = sens.table
    iv = sens.intervals.set_index(["index", "parameter"])

    def err(name):  # asymmetric error bars of the cut interval (an estimate past the range keeps none there)
        part = iv.loc[name].reindex(t["parameter"])
        return np.clip(np.vstack([part["value"] - part["ci_low"], part["ci_high"] - part["value"]]), 0, None)

    fig, ax = plt.subplots(figsize=(7.5, 0.5 * len(t) + 2.0))
    y = range(len(t))
    if sens.method == "sobol":
        h = 0.38
        ax.barh([i - h / 2 for i in y], t["S1"], height=h, xerr=err("S1"), label="first order S1", capsize=3)
        ax.barh([i + h / 2 for i in y], t["ST"], height=h, xerr=err("ST"), label="total order ST", capsize=3)
        ax.set_xlabel("Sobol index (share of output variance)")
        ax.legend(fontsize=8)
    else:
        ax.barh(list(y), t["mu_star"], xerr=err("mu_star"), capsize=3, label="mu*")
        ax.set_xlabel("Morris mu* (mean absolute elementary effect)")
    ax.set_yticks(list(y), t["parameter"], fontsize=8)
    ax.invert_yaxis()
    note = f"; small sample ({sens.base_samples} base samples): not an answer" if sens.small_sample else ""
    ax.set_title(f"{sens.metric} ({sens.group}, year {sens.year}, {sens.scenario}); 95% intervals cut to the "
                 f"index's range{note}", fontsize=10)
    lay_out(fig)
    return fig


# -------------------------------------------------------------- figures for notebooks and reports

# seaborn's color_palette("RdYlGn", n) without importing seaborn: the colormap sampled at n inner points
TIER_COLOURS = dict(zip(TIERS, map(tuple, matplotlib.colormaps["RdYlGn"](np.linspace(0, 1, len(TIERS) + 2)[1:-1])[:, :3]
                                   .tolist()), strict=True))
FLOW_COLOUR = "#c0392b"


def _order(col: pd.Series) -> list[str]:
    """Names in a column's own order: its categories when categorical, else order of first appearance."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        present = set(col.astype(str))
        return [str(c) for c in col.cat.categories if str(c) in present]
    return list(dict.fromkeys(col.astype(str)))


def _colours(names: list[str]) -> dict:
    return dict(zip(names, sns.color_palette(n_colors=max(len(names), 1)), strict=False))


def replicate_band(frame: pd.DataFrame, keys: list[str], value: str = "value") -> pd.DataFrame:
    """Mean and 95% t-interval over replicates of `value` for each combination of `keys`, cut to
    the metric's range, with `clipped` and `small_sample` flags (`sim.experiments.statistics.replicate_band`)."""
    from sim.experiments.statistics import replicate_band

    return replicate_band(frame, keys, value)


def threshold_of(metric: str, group: str) -> float | None:
    """The official limit a CV metric is judged against for a level group, else None."""
    level = group.split("@")[0]
    if metric in {f"cv_{i}" for i in INDICATORS}:
        return HIGH_QUALITY_CV.get(level)
    if metric == "cv_composite":
        return BASIC_CV.get(level)
    return None


def _label(metric: str) -> str:
    return REGISTRY[metric].label if metric in REGISTRY else metric


def _band_lines(ax, frame: pd.DataFrame, scenarios: list[str], colours: dict, x: str = "year") -> None:
    for name in scenarios:
        part = frame[frame["scenario"].astype(str) == name]
        if part.empty:
            continue
        band = replicate_band(part, [x]).sort_values(x)
        ax.plot(band[x], band["mean"], color=colours[name], label=name, linewidth=1.8)
        ax.fill_between(band[x], band["ci_low"], band["ci_high"], color=colours[name], alpha=0.2, linewidth=0)


def cv_by_scenario(metrics: pd.DataFrame, metric: str = "cv_backbone",
                   groups: tuple[str, ...] = ("primary", "junior"), term_ends: list[int] | None = None) -> plt.Figure:
    """One CV metric over the years, one panel per group and one line per scenario: the mean over
    replicates with its 95% t-interval as a band, the official limit as a dashed black line and,
    when given, the years the first rotators' terms end as dotted lines."""
    sns.set_theme(style="whitegrid", context="notebook")
    data = metrics[metrics["metric"] == metric]
    scenarios = _order(data["scenario"])
    colours = _colours(scenarios)
    fig, axes = plt.subplots(1, len(groups), figsize=(5.2 * len(groups), 4.0), sharey=True, squeeze=False)
    for ax, group in zip(axes[0], groups, strict=True):
        _band_lines(ax, data[data["subgroup"] == group], scenarios, colours)
        limit = threshold_of(metric, group)
        if limit is not None:
            ax.axhline(limit, color="black", linestyle="--", linewidth=1, label=f"limit {limit:.2f}")
        mark_term_ends(ax, term_ends)
        ax.set_title(f"{group} schools" if group in HIGH_QUALITY_CV else group)
        ax.set_xlabel("year")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0][0].set_ylabel(metric)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{_label(metric)}\n(mean over replicates with 95% t-interval)", fontsize=11)
    lay_out(fig)
    return fig


def lorenz(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Student-weighted Lorenz curve of per-100-student values: cumulative share of students (x)
    against cumulative share of the resource (y), schools sorted from the least to the best endowed."""
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    amount = v * w
    x = np.concatenate([[0.0], np.cumsum(w) / w.sum()])
    total = amount.sum()
    y = np.concatenate([[0.0], np.cumsum(amount) / total]) if total > 0 else x.copy()
    return x, y


def lorenz_curves(schools: pd.DataFrame, indicator: str = "backbone", years: list[int] | None = None) -> plt.Figure:
    """Lorenz curves of an indicator across whole schools (student-weighted) in the first and last
    year (or `years`), one panel per scenario; each curve is the mean of the replicates' curves,
    and the legend gives its Gini (twice the area between the curve and the diagonal)."""
    sns.set_theme(style="whitegrid", context="notebook")
    column = "mean_quality" if indicator == "quality" else f"{indicator}_per100"
    scenarios = _order(schools["scenario"])
    if years is None:
        years = [int(schools["year"].min()), int(schools["year"].max())]
    grid = np.linspace(0.0, 1.0, 201)
    fig, axes = plt.subplots(1, len(scenarios), figsize=(max(4.6 * len(scenarios), 6.0), 4.6), squeeze=False)
    palette = sns.color_palette("viridis", n_colors=len(years))
    for ax, name in zip(axes[0], scenarios, strict=True):
        ax.plot([0, 1], [0, 1], color="black", linewidth=1, linestyle=":", label="equality")
        part = schools[schools["scenario"].astype(str) == name]
        for colour, year in zip(palette, years, strict=True):
            curves = []
            for _, rep in part[part["year"] == year].groupby("replicate", observed=True):
                x, y = lorenz(rep[column].to_numpy(dtype=float), rep["enrolment"].to_numpy(dtype=float))
                curves.append(np.interp(grid, x, y))
            if not curves:
                continue
            mean = np.mean(curves, axis=0)
            gini = 1.0 - 2.0 * np.trapezoid(mean, grid)
            ax.plot(grid, mean, color=colour, linewidth=2, label=f"year {year} (Gini {gini:.2f})")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_xlabel("cumulative share of students")
        ax.set_title(name, fontsize=10)
        ax.legend(fontsize=8, loc="upper left")
    axes[0][0].set_ylabel(f"cumulative share of {indicator}")
    fig.suptitle(f"Lorenz curves of {indicator} across schools\n(student-weighted)", fontsize=11)
    lay_out(fig)
    return fig


def flow_matrix(metrics: pd.DataFrame, metric: str = "flow_tier", years: list[int] | None = None) -> pd.DataFrame:
    """Rotations from (rows) to (columns), summed over `years` (default every year) and averaged
    over replicates (cells without a move count as zero), for one scenario's tidy metric rows."""
    data = metrics[metrics["metric"] == metric]
    if years is not None:
        data = data[data["year"].isin(years)]
    reps = sorted(metrics["replicate"].unique())
    split = data["subgroup"].astype(str).str.split("->", n=1, expand=True)
    frame = pd.DataFrame({"from": split[0] if len(split) else [], "to": split[1] if len(split) else [],
                          "value": data["value"].to_numpy(dtype=float)})
    labels = list(dict.fromkeys([*frame["from"], *frame["to"]]))
    if metric == "flow_tier":
        labels = [t for t in TIERS if t in labels]
    else:
        labels = sorted(labels)
    total = frame.groupby(["from", "to"])["value"].sum() / max(len(reps), 1)
    matrix = total.unstack(fill_value=0.0).reindex(index=labels, columns=labels, fill_value=0.0)
    matrix.index.name, matrix.columns.name = "from (home)", "to (host)"
    return matrix


def flow_heatmap(metrics: pd.DataFrame, metric: str = "flow_tier", years: list[int] | None = None) -> plt.Figure:
    """Heatmap of rotations between tiers (`flow_tier`) or districts (`flow_district`): rows are the
    home school's, columns the host's; cells are rotations summed over the years and averaged over
    replicates; one panel per scenario."""
    sns.set_theme(style="white", context="notebook")
    scenarios = _order(metrics["scenario"])
    mats = [flow_matrix(metrics[metrics["scenario"].astype(str) == s], metric, years) for s in scenarios]
    n = max((len(m) for m in mats), default=1)
    size = 2.2 + 0.75 * n
    fig, axes = plt.subplots(1, len(scenarios), figsize=(max((size + 1.4) * len(scenarios), 6.0), size + 0.6),
                             squeeze=False)
    what = "tiers" if metric == "flow_tier" else "districts"
    span = "all years" if years is None else f"years {min(years)}-{max(years)}"
    for ax, name, mat in zip(axes[0], scenarios, mats, strict=True):
        if mat.empty:
            ax.text(0.5, 0.5, "no rotations", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
        else:
            sns.heatmap(mat, annot=True, fmt=".0f", cmap="Blues", cbar=False, square=True, linewidths=0.5, ax=ax)
            ax.tick_params(axis="y", labelrotation=0)
            ax.tick_params(axis="x", labelrotation=30)
            ax.set_xlabel("to (host)")
            ax.set_ylabel("from (home)")
        ax.set_title(name, fontsize=10)
    fig.suptitle(f"Rotations between {what}, {span}\n(mean over replicates)", fontsize=11)
    lay_out(fig)
    return fig


def coverage_curves(metrics: pd.DataFrame) -> plt.Figure:
    """Cumulative coverage over the years: of the eligible cohort (`coverage_eligible`) and of all
    teachers in post (`coverage_staff`), one line per scenario with its 95% t-interval band."""
    sns.set_theme(style="whitegrid", context="notebook")
    scenarios = _order(metrics["scenario"])
    colours = _colours(scenarios)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.0), sharey=True)
    for ax, metric in zip(axes, ("coverage_eligible", "coverage_staff"), strict=True):
        data = metrics[(metrics["metric"] == metric) & (metrics["subgroup"] == "all")]
        _band_lines(ax, data, scenarios, colours)
        ax.axhline(1.0, color="black", linestyle="--", linewidth=1)
        ax.set_ylim(0, 1.05)
        ax.set_title(_label(metric), fontsize=10)
        ax.set_xlabel("year")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_ylabel("share rotated")
    axes[0].legend(fontsize=8)
    fig.suptitle("Coverage of rotation (mean over replicates, 95% t-interval)")
    lay_out(fig)
    return fig


def _spread_years(years: list[int], most: int = 4) -> list[int]:
    if len(years) <= most:
        return years
    picks = np.linspace(0, len(years) - 1, most).round().astype(int)
    return [years[i] for i in sorted(set(picks.tolist()))]


def achievement_band(band: pd.DataFrame) -> plt.Figure:
    """The student-achievement proxy as a band, never a single line: at each radiation value
    (`sim.bands.achievement_band`; a run's own metrics give one value), the line is the central
    turnover loss and the shaded band the published range of the loss (0.06-0.10 student SD per
    full turnover); the light envelope spans every radiation value and loss."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    values = sorted(band["radiation"].unique())
    env = band.groupby("year")
    if len(values) > 1:
        ax.fill_between(env["achievement_low"].min().index, env["achievement_low"].min().to_numpy(),
                        env["achievement_high"].max().to_numpy(), color="grey", alpha=0.15, linewidth=0,
                        label="envelope: every radiation value and loss")
    for colour, r in zip(DEEP, values, strict=False):
        part = band[band["radiation"] == r].sort_values("year")
        ax.fill_between(part["year"], part["achievement_low"], part["achievement_high"], color=colour, alpha=0.25,
                        linewidth=0)
        ax.plot(part["year"], part["achievement"], color=colour, label=f"radiation {r:g}")
    ax.set_xlabel("year")
    ax.set_ylabel("achievement proxy (quality units)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8)
    ax.set_title("Student achievement: band over the turnover loss (0.06-0.10 SD) and radiation")
    lay_out(fig)
    return fig


def achievement_of_run(metrics: pd.DataFrame, radiation: float) -> pd.DataFrame:
    """A run's achievement band (mean over replicates) in the frame `achievement_band` draws."""
    m = metrics[metrics["metric"].isin(["achievement_low", "achievement", "achievement_high"])
                & (metrics["subgroup"] == "all")]
    wide = m.pivot_table(index="year", columns="metric", values="value", aggfunc="mean", observed=True)
    return wide.reset_index().assign(radiation=float(radiation))


def quality_by_tier(schools: pd.DataFrame, years: list[int] | None = None) -> plt.Figure:
    """Distribution over schools of the mean teaching quality of the teachers teaching there, by
    tier, at a few years (default up to four, first and last included); replicates pooled, one
    panel per scenario."""
    sns.set_theme(style="whitegrid", context="notebook")
    scenarios = _order(schools["scenario"])
    all_years = sorted(int(y) for y in schools["year"].unique())
    years = _spread_years(all_years) if years is None else list(years)
    data = schools[schools["year"].isin(years)].copy()
    data["tier"] = data["tier"].astype(str)
    tiers = [t for t in TIERS if t in set(data["tier"])]
    width = max(6.0, (2.0 + 0.42 * len(years) * len(tiers)) * len(scenarios))
    fig, axes = plt.subplots(1, len(scenarios), figsize=(width, 4.2), squeeze=False, sharey=True)
    for ax, name in zip(axes[0], scenarios, strict=True):
        part = data[data["scenario"].astype(str) == name]
        with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib 3.11's deprecated `vert`
            warnings.simplefilter("ignore", MatplotlibDeprecationWarning)
            sns.boxplot(part, x="year", y="mean_quality", hue="tier", hue_order=tiers, order=years,
                        palette=[TIER_COLOURS[t] for t in tiers], fliersize=2, linewidth=0.8, ax=ax,
                        legend=ax is axes[0][0])
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("year")
    axes[0][0].set_ylabel("mean teaching quality at the school")
    # one legend under the panels, where it covers no box
    handles, labels = axes[0][0].get_legend_handles_labels()
    if axes[0][0].get_legend() is not None:
        axes[0][0].get_legend().remove()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False, fontsize=9, title="tier",
               title_fontsize=9)
    fig.suptitle("Teaching quality across schools by tier")
    lay_out(fig, rect=(0, 0.1, 1, 1))
    return fig


def difference_forest(table: pd.DataFrame, baseline: str | None = None) -> plt.Figure:
    """Forest plot of a comparison table (`Comparison.table`): for each outcome a panel, for each
    scenario a row, the mean paired difference from the baseline with its 95% paired-t interval,
    one marker per reported year; the zero line is no effect."""
    sns.set_theme(style="whitegrid", context="notebook")
    if baseline is None:
        base = table.loc[table["test"] == "baseline", "scenario"].astype(str)
        baseline = base.iloc[0] if len(base) else ""
    rows = table[table["scenario"].astype(str) != baseline]
    outcomes = list(dict.fromkeys(zip(rows["metric"], rows["subgroup"], strict=True)))
    scenarios = _order(rows["scenario"])
    years = sorted(int(y) for y in rows["year"].unique())
    colours = dict(zip(years, sns.color_palette("crest", n_colors=max(len(years), 1)), strict=False))
    cols = min(len(outcomes), 3)
    n_rows = -(-len(outcomes) // cols)
    fig, axes = plt.subplots(n_rows, cols, figsize=(4.4 * cols, (0.45 * len(scenarios) + 1.6) * n_rows),
                             squeeze=False)
    for ax in axes.flat[len(outcomes):]:
        ax.set_visible(False)
    step = 0.6 / max(len(years), 1)
    for ax, (metric, group) in zip(axes.flat, outcomes, strict=False):
        part = rows[(rows["metric"] == metric) & (rows["subgroup"] == group)]
        ax.axvline(0.0, color="black", linewidth=1)
        for k, year in enumerate(years):
            sel = part[part["year"] == year].set_index(part[part["year"] == year]["scenario"].astype(str))
            sel = sel.reindex(scenarios)
            y = np.arange(len(scenarios)) + (k - (len(years) - 1) / 2) * step
            lo = (sel["diff"] - sel["diff_ci_low"]).to_numpy(dtype=float)
            hi = (sel["diff_ci_high"] - sel["diff"]).to_numpy(dtype=float)
            ax.errorbar(sel["diff"].to_numpy(dtype=float), y, xerr=np.nan_to_num(np.vstack([lo, hi])),
                        fmt="o", color=colours[year], capsize=3, label=f"year {year}")
        ax.set_yticks(np.arange(len(scenarios)), scenarios, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(f"{metric} ({group})", fontsize=10)
        ax.set_xlabel(f"minus {baseline}", fontsize=8)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(f"Paired differences from {baseline} with 95% paired-t intervals")
    lay_out(fig)
    return fig


def sweep_response(metrics: pd.DataFrame, parameter: str, metric: str, group: str = "all",
                   year: int | None = None, threshold: float | None = None, hue: str | None = None) -> plt.Figure:
    """A sweep's outcome at one year against one swept parameter: at each design point the mean
    over its replicates with a 95% t-interval; with `hue` (another swept parameter, such as the
    matching rule of a grid) one series per value of it, joined by lines, each with its own marker
    and set slightly apart so the intervals stay visible. A dashed line marks `threshold` (by default the official
    limit when the outcome is a CV of a level group)."""
    sns.set_theme(style="whitegrid", context="notebook")
    data = metrics[(metrics["metric"] == metric) & (metrics["subgroup"] == group)]
    year = int(data["year"].max()) if year is None else year
    data = data[data["year"] == year]
    keys = ["point", parameter] + ([hue] if hue else [])
    band = replicate_band(data, keys)
    fig, ax = plt.subplots(figsize=(6.8, 4.4))
    numeric = pd.api.types.is_numeric_dtype(band[parameter])
    cats = [] if numeric else list(dict.fromkeys(band[parameter].astype(str)))
    series = [(None, band)] if hue is None else [(v, band[band[hue] == v]) for v in sorted(band[hue].unique())]
    # series side by side (dodged) so that their intervals do not hide each other
    span = (float(band[parameter].max() - band[parameter].min()) or 1.0) if numeric else 1.0
    step = (0.015 if numeric else 0.1) * span
    markers = "osD^vP*X"
    for k, (value, part) in enumerate(series):
        part = part.sort_values(parameter) if numeric else part
        xs = part[parameter].to_numpy(dtype=float) if numeric else \
            np.array([cats.index(v) for v in part[parameter].astype(str)], dtype=float)
        xs = xs + (k - (len(series) - 1) / 2) * step
        err = np.nan_to_num(np.vstack([part["mean"] - part["ci_low"], part["ci_high"] - part["mean"]]).astype(float))
        fmt = markers[k % len(markers)] + ("-" if hue else "")
        ax.errorbar(xs, part["mean"].to_numpy(dtype=float), yerr=err, fmt=fmt, capsize=3,
                    label="design point" if hue is None else f"{hue} = {value}")
    if cats:
        ax.set_xticks(range(len(cats)), cats)
    limit = threshold if threshold is not None else threshold_of(metric, group)
    if limit is not None:
        ax.axhline(limit, color="black", linestyle="--", linewidth=1, label=f"threshold {limit:.2f}")
    ax.set_xlabel(parameter)
    ax.set_ylabel(f"{metric} ({group}), year {year}")
    ax.legend(fontsize=8)
    ax.set_title(f"{metric} ({group}) at year {year} across the sweep (95% t-intervals)", fontsize=10)
    lay_out(fig)
    return fig


# ------------------------------------------------------------------------------- the network map


MAX_FLOW_UNITS = 24  # above this many groups (and school districts), flows are drawn between districts
LABELLED_FLOWS = 12  # the largest flows get their count written on them
DRAWN_FLOWS = 30  # the largest flows between units drawn; the caption says what share of rotations they carry


def flow_units(graph, by: str = "auto") -> tuple[dict, str]:
    """({school: unit name}, what the units are) for drawing rotations as flows between units:
    `group` (a school's education group, else its school district), `district`, or `auto`
    (groups when there are at most MAX_FLOW_UNITS of them, else districts; districts too when the
    world has several districts and no groups)."""
    nodes = graph.nodes
    schools = [n for n, d in graph.nodes(data=True) if d.get("kind") == "school"]
    district_of, sd_of, group_of = {}, {}, {}
    for d in (n for n, a in graph.nodes(data=True) if a.get("kind") == "district"):
        for sd in graph.neighbors(d):
            if nodes[sd].get("kind") != "school_district":
                continue
            for s in graph.neighbors(sd):
                if nodes[s].get("kind") == "school":
                    district_of[s], sd_of[s] = nodes[d]["name"], nodes[sd]["name"]
    for g in (n for n, a in graph.nodes(data=True) if a.get("kind") == "group"):
        for s in graph.neighbors(g):
            if nodes[s].get("kind") == "school":
                group_of[s] = nodes[g]["name"]
    by_group = {s: group_of.get(s) or sd_of.get(s) or district_of.get(s, "?") for s in schools}
    if by == "auto":
        n_districts = len(set(district_of.values()))
        by = "group" if group_of and len(set(by_group.values())) <= MAX_FLOW_UNITS else \
            ("district" if n_districts > 1 or not group_of else "group")
    if by == "district":
        return {s: district_of.get(s, "?") for s in schools}, "districts"
    return by_group, "education groups (ungrouped schools: their school district)"


def _nice(x: float) -> int:
    """A round number of at most `x` (1, 2, 5, 10, 20, ...) for the width key."""
    if x < 1:
        return 1
    base = 10 ** int(np.floor(np.log10(x)))
    return int(max(m * base for m in (1, 2, 5) if m * base <= x))


def network_map(graph, moves: pd.DataFrame | None = None, year: int | None = None,
                values: pd.Series | None = None, value_label: str = "", title: str | None = None,
                by: str = "auto") -> plt.Figure:
    """The place graph drawn on the map and, with `moves`, the rotations as flows between units.

    The map: schools at their coordinates (colour: tier, or `values` by school id; size:
    enrolment), districts outlined and named, education groups as thin lines from each member to
    its leading school, twinning pairs as dashed lines. With `moves` (a tidy moves frame,
    `RunResult.moves`; rotations of `year`, every year when None, first replicate) a second panel
    sums the rotations between units (`flow_units`: education groups or districts), placed on a
    circle: one arrow per pair of units from home to host, its width proportional to the number of
    teachers (the DRAWN_FLOWS largest; the title says what share of the rotations they carry), and
    rotations within a unit as a ring whose size is their number. Thousands of school-to-school
    arrows would only hide each other.
    """
    from matplotlib.lines import Line2D

    sns.set_theme(style="white", context="notebook")
    schools = sorted(n for n, d in graph.nodes(data=True) if d.get("kind") == "school")
    pos = {n: (graph.nodes[n]["x"], graph.nodes[n]["y"]) for n in schools}
    if moves is None:
        fig, ax = plt.subplots(figsize=(10.0, 7.5), layout="constrained")
    else:
        fig, (ax, flow_ax) = plt.subplots(1, 2, figsize=(17.0, 8.0), layout="constrained",
                                          gridspec_kw={"width_ratios": [1.0, 1.1]})
    _draw_districts(ax, graph, pos)
    _draw_groups_and_twins(ax, graph, pos)
    handles = _draw_schools(fig, ax, graph, schools, pos, values, value_label)
    handles += [Line2D([], [], color="#2c3e50", linestyle="--", label="twinning pair"),
                Line2D([], [], color="#27ae60", linewidth=1.4, label="education group")]
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(0.0, -0.08), frameon=False,
              ncol=3)
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.set_xlabel("km east")
    ax.set_ylabel("km north")
    ax.set_title(title or "Schools, education groups and twinning pairs", fontsize=11)
    if moves is not None:
        _flow_panel(flow_ax, graph, _rotations_shown(moves, pos, year), by,
                    "all years" if year is None else f"year {year}")
    return fig


def _rotations_shown(moves: pd.DataFrame, pos: dict, year: int | None) -> pd.DataFrame:
    """The rotations the flow panel draws: of `year` (every year when None), first replicate,
    between schools on the map."""
    mv = moves[moves["kind"].astype(str) == "rotation"] if len(moves) else moves
    if "replicate" in mv.columns and len(mv):
        mv = mv[mv["replicate"] == mv["replicate"].min()]
    if year is not None and len(mv):
        mv = mv[mv["year"] == year]
    return mv[mv["from_school"].isin(pos) & mv["to_school"].isin(pos)] if len(mv) else mv


def _draw_districts(ax, graph, pos: dict) -> None:
    """Each district as the convex hull of its schools, its name at the centre."""
    from matplotlib.patches import Polygon

    districts = [n for n, d in graph.nodes(data=True) if d.get("kind") == "district"]
    for d in districts:
        members = [s for sd in graph.neighbors(d) if graph.nodes[sd].get("kind") == "school_district"
                   for s in graph.neighbors(sd) if graph.nodes[s].get("kind") == "school"]
        pts = np.array([pos[s] for s in members])
        if len(pts) >= 3:
            from scipy.spatial import ConvexHull, QhullError
            try:
                hull = ConvexHull(pts)
                ax.add_patch(Polygon(pts[hull.vertices], closed=True, facecolor="#f2f2f2", edgecolor="#999999",
                                     linewidth=1, zorder=0, gid="district"))
            except QhullError:
                pass
        if len(pts):
            cx, cy = pts.mean(axis=0)
            ax.text(cx, cy, graph.nodes[d]["name"], fontsize=11, fontweight="bold", color="#333333", ha="center",
                    va="center", zorder=5, gid="district_label",
                    bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "#999999", "alpha": 0.85})


def _draw_groups_and_twins(ax, graph, pos: dict) -> None:
    """Education groups as thin lines from each member to its leading school; twinning pairs dashed."""
    from matplotlib.collections import LineCollection

    member_segments, twin_segments = [], []
    for g in (n for n, d in graph.nodes(data=True) if d.get("kind") == "group"):
        members = [s for s in graph.neighbors(g) if graph.nodes[s].get("kind") == "school"]
        leaders = [s for s in members if graph.edges[g, s].get("leading")]
        if leaders:
            member_segments += [(pos[leaders[0]], pos[s]) for s in members if s != leaders[0]]
    for a, b, d in graph.edges(data=True):
        if d.get("kind") == "twinning":
            twin_segments.append((pos[a], pos[b]))
    groups = LineCollection(member_segments, colors="#27ae60", linewidths=1.4, alpha=0.8, zorder=2,
                            label="education group (to its leading school)")
    groups.set_gid("groups")
    ax.add_collection(groups)
    twins = LineCollection(twin_segments, colors="#2c3e50", linewidths=1.2, linestyles="--", zorder=2,
                           label="twinning pair")
    twins.set_gid("twinning")
    ax.add_collection(twins)


def _draw_schools(fig, ax, graph, schools: list, pos: dict, values, value_label: str) -> list:
    """Schools at their coordinates, sized by enrolment, coloured by tier (or `values`); returns
    the legend handles of the tiers drawn."""
    from matplotlib.lines import Line2D

    xy = np.array([pos[s] for s in schools])
    enrol = np.array([graph.nodes[s].get("enrolment", 500) for s in schools], dtype=float)
    sizes = 25 + 120 * np.sqrt(enrol / max(enrol.max(), 1))
    if values is not None:
        vals = pd.Series(values).reindex(schools).to_numpy(dtype=float)
        points = ax.scatter(xy[:, 0], xy[:, 1], s=sizes, c=vals, cmap="viridis", edgecolors="black",
                            linewidths=0.5, zorder=3, gid="schools")
        fig.colorbar(points, ax=ax, shrink=0.7, label=value_label)
        handles = []
    else:
        colours = [TIER_COLOURS[graph.nodes[s]["tier"]] for s in schools]
        ax.scatter(xy[:, 0], xy[:, 1], s=sizes, c=colours, edgecolors="black", linewidths=0.5, zorder=3,
                   gid="schools")
        present = {graph.nodes[s]["tier"] for s in schools}
        handles = [Line2D([], [], marker="o", linestyle="", markerfacecolor=TIER_COLOURS[t], markeredgecolor="black",
                          label=f"{t} school") for t in TIERS if t in present]
    return handles


def unit_flows(graph, moves: pd.DataFrame, by: str = "auto") -> tuple[pd.Series, list[str], str]:
    """(rotations by (home unit, host unit), every unit in map order, what the units are) of a
    moves frame, units as `flow_units` makes them; map order is clockwise around the map's centre
    from the north, so units near each other on the map are near each other on the circle."""
    unit_of, what = flow_units(graph, by)
    xy = {s: np.array([graph.nodes[s]["x"], graph.nodes[s]["y"]]) for s in unit_of}
    middle = np.mean(list(xy.values()), axis=0)
    centre = {u: np.mean([xy[s] for s in unit_of if unit_of[s] == u], axis=0) - middle for u in set(unit_of.values())}
    order = sorted(centre, key=lambda u: ((np.pi / 2 - np.arctan2(centre[u][1], centre[u][0])) % (2 * np.pi), u))
    if moves is None or not len(moves):
        return pd.Series(dtype=int), order, what
    counts = moves.groupby([moves["from_school"].map(unit_of).rename("home"),
                            moves["to_school"].map(unit_of).rename("host")]).size()
    return counts, order, what


def _flow_panel(ax, graph, mv: pd.DataFrame, by: str, when: str) -> None:
    """Rotations between units placed on a circle: arrows as wide as their flow, rings for flows within."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch

    counts, units, what = unit_flows(graph, mv, by)
    angle = {u: np.pi / 2 - 2 * np.pi * k / max(len(units), 1) for k, u in enumerate(units)}
    at = {u: np.array([np.cos(a), np.sin(a)]) for u, a in angle.items()}
    ax.scatter([at[u][0] for u in units], [at[u][1] for u in units], s=30, color="#555555", zorder=3, gid="unit")
    for u in units:
        x, y = 1.12 * at[u]
        ax.text(x, y, u, fontsize=8, ha="left" if x > 0.05 else ("right" if x < -0.05 else "center"),
                va="center", rotation=0, gid="unit_label")
    total = int(counts.sum()) if len(counts) else 0
    top = max(int(counts.max()), 1) if len(counts) else 1
    between = counts[[a != b for a, b in counts.index]].sort_values(ascending=False, kind="stable")
    drawn = between.head(DRAWN_FLOWS)
    for rank, ((a, b), k) in enumerate(drawn.items()):
        width = 0.8 + 11.0 * k / top
        ax.add_patch(FancyArrowPatch(tuple(at[a]), tuple(at[b]), arrowstyle="-|>", mutation_scale=8 + 1.5 * width,
                                     linewidth=width, color=FLOW_COLOUR, alpha=0.5, shrinkA=5, shrinkB=5,
                                     connectionstyle="arc3,rad=0.18", zorder=2, gid="flow"))
        if rank < LABELLED_FLOWS:
            mx, my = 0.5 * (at[a] + at[b]) + 0.09 * np.array([at[b][1] - at[a][1], at[a][0] - at[b][0]])
            ax.text(mx, my, f"{k:,}", fontsize=7, ha="center", va="center", zorder=6, gid="flow_label",
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85})
    within = counts[[a == b for a, b in counts.index]]
    for (u, _), k in within.items():
        ax.scatter(*at[u], s=40 + 1500 * k / top, facecolors="none", edgecolors=FLOW_COLOUR, linewidths=2,
                   zorder=4, gid="within")
    key = sorted({_nice(top), _nice(top / 5)}, reverse=True)
    handles = [Line2D([], [], color=FLOW_COLOUR, alpha=0.5, linewidth=0.8 + 11.0 * k / top,
                      label=f"{k:,} rotations, home to host") for k in key]
    handles.append(Line2D([], [], marker="o", linestyle="", markerfacecolor="none", markeredgecolor=FLOW_COLOUR,
                          markersize=12, markeredgewidth=2, label="rotations within a unit (ring size)"))
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(0.0, -0.02), frameon=False, ncol=3)
    ax.set_xlim(-1.6, 1.6)
    ax.set_ylim(-1.3, 1.3)
    ax.set_aspect("equal")
    ax.set_axis_off()
    carried = int(drawn.sum()) / max(int(between.sum()), 1)
    shown = (f"all {len(between)} flows between units drawn" if len(drawn) == len(between) else
             f"the {len(drawn)} largest of {len(between)} flows between units drawn ({carried:.0%} of the rotations "
             "between units)")
    ax.set_title(f"{total:,} rotations in {when} (replicate 0) between {what}:\n{shown}; "
                 f"{int(within.sum()) if len(within) else 0:,} within a unit", fontsize=10)


def search_front(folder) -> plt.Figure:
    """A finished policy search's options on each pair of objectives (its folder's Pareto figure)."""
    from sim.experiments.optimize import load_folder, pareto_figure
    from sim.storage.results import read_frame

    folder = Path(folder)
    return pareto_figure(load_folder(folder), read_frame(folder / "candidates.parquet"))


def search_convergence(folder) -> plt.Figure:
    """A finished policy search's front hypervolume by generation."""
    from sim.experiments.optimize import convergence_figure
    from sim.storage.results import read_frame

    return convergence_figure(read_frame(Path(folder) / "convergence.parquet"))


# -------------------------------------------------------------- calibration


def calibration_paths(paths: pd.DataFrame, targets) -> plt.Figure:
    """The whole yearly path each calibration target is read from, at the best fit (a calibration
    folder's paths.parquet), with each target of `targets` where it is read
    (`sim.experiments.calibrate.draw_paths`, which also draws the folder's figures/paths.png)."""
    from sim.experiments.calibrate import draw_paths

    return draw_paths(plt.figure(), paths, targets)
