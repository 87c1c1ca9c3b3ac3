"""Figures: each a function from tidy frames to a matplotlib Figure (seaborn styled).

Imported only where figures are made, so the command line stays quick to start.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from sim.metrics import HIGH_QUALITY_CV, INDICATORS  # noqa: E402

LABELS = {"teachers": "teachers", "above_qualification": "above qualification", "senior_title": "senior title",
          "backbone": "backbone", "pe_art": "PE/music/art"}


def cv_trajectories(metrics: pd.DataFrame) -> plt.Figure:
    """Official CV of each teacher indicator over the years, one panel per level, with the
    high-quality limit as a dashed line; the band spans the replicates (mean and 95% interval
    of the replicate values when there are several)."""
    sns.set_theme(style="whitegrid", context="notebook")
    data = metrics[metrics["metric"].isin([f"cv_{i}" for i in INDICATORS])
                   & metrics["group"].isin(list(HIGH_QUALITY_CV))].copy()
    data["indicator"] = data["metric"].str.removeprefix("cv_").map(LABELS)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, level in zip(axes, HIGH_QUALITY_CV, strict=True):
        part = data[data["group"] == level]
        sns.lineplot(part, x="year", y="value", hue="indicator", hue_order=list(LABELS.values()),
                     errorbar=("pi", 95), ax=ax, legend=level == "primary")
        ax.axhline(HIGH_QUALITY_CV[level], color="black", linestyle="--", linewidth=1)
        ax.text(0.0, HIGH_QUALITY_CV[level], f" limit {HIGH_QUALITY_CV[level]:.2f}", va="bottom", fontsize=8)
        ax.set_title(f"{level} schools")
        ax.set_ylabel("between-school CV (student-weighted)")
    scenario = ", ".join(sorted(metrics["scenario"].astype(str).unique()))
    fig.suptitle(f"Teacher indicators across schools: {scenario}")
    fig.tight_layout()
    return fig


def rotation_activity(metrics: pd.DataFrame) -> plt.Figure:
    """Rotations started per year and the cumulative coverage of the eligible cohort."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.0))
    allg = metrics[metrics["group"] == "all"]
    sns.lineplot(allg[allg["metric"] == "rotations"], x="year", y="value", errorbar=("pi", 95), ax=a)
    a.set_ylabel("rotations started")
    a.set_title("rotations per year")
    sns.lineplot(allg[allg["metric"] == "coverage_eligible"], x="year", y="value", errorbar=("pi", 95), ax=b)
    b.set_ylim(0, 1.05)
    b.set_ylabel("share of eligible cohort rotated")
    b.set_title("cumulative coverage")
    fig.tight_layout()
    return fig


def save_run_figures(metrics: pd.DataFrame, folder: Path) -> list[Path]:
    """The run's standard figures as PNG files in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, make in (("cv_trajectories", cv_trajectories), ("rotation_activity", rotation_activity)):
        fig = make(metrics)
        path = folder / f"{name}.png"
        fig.savefig(path, dpi=110, metadata={"Software": None})
        plt.close(fig)
        paths.append(path)
    return paths


def _panels(n: int, width: float = 4.2, height: float = 3.3):
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _scenario_colours(trajectories: pd.DataFrame) -> dict:
    """One colour per scenario, in the comparison's order, the same in every comparison figure."""
    col = trajectories["scenario"]
    names = [str(c) for c in col.cat.categories] if isinstance(col.dtype, pd.CategoricalDtype) else \
        list(dict.fromkeys(col.astype(str)))
    return dict(zip(names, sns.color_palette(n_colors=len(names)), strict=True))


def compare_trajectories(trajectories: pd.DataFrame, baseline: str) -> plt.Figure:
    """Each outcome over the years, one line per scenario, the band its 95% t-interval over replicates."""
    sns.set_theme(style="whitegrid", context="notebook")
    outcomes = list(dict.fromkeys(zip(trajectories["metric"], trajectories["group"], strict=True)))
    colours = _scenario_colours(trajectories)
    scenarios = list(colours)
    fig, axes = _panels(len(outcomes))
    for ax, (metric, group) in zip(axes, outcomes, strict=True):
        part = trajectories[(trajectories["metric"] == metric) & (trajectories["group"] == group)]
        for name in scenarios:
            s = part[part["scenario"].astype(str) == name].sort_values("year")
            ax.plot(s["year"], s["mean"], color=colours[name], label=name,
                    linewidth=2.2 if name == baseline else 1.6, linestyle="--" if name == baseline else "-")
            ax.fill_between(s["year"], s["ci_low"], s["ci_high"], color=colours[name], alpha=0.2, linewidth=0)
        ax.set_title(f"{metric} ({group})", fontsize=10)
        ax.set_xlabel("year")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend(fontsize=8)
    fig.suptitle("Scenario means with 95% t-intervals over paired replicates (baseline dashed)")
    fig.tight_layout()
    return fig


def compare_differences(trajectories: pd.DataFrame, baseline: str) -> plt.Figure:
    """Each scenario minus the baseline, replicate by replicate: mean paired difference and its 95% interval."""
    sns.set_theme(style="whitegrid", context="notebook")
    outcomes = list(dict.fromkeys(zip(trajectories["metric"], trajectories["group"], strict=True)))
    colours = _scenario_colours(trajectories)
    others = [s for s in colours if s != baseline]
    fig, axes = _panels(len(outcomes))
    for ax, (metric, group) in zip(axes, outcomes, strict=True):
        part = trajectories[(trajectories["metric"] == metric) & (trajectories["group"] == group)]
        ax.axhline(0.0, color="black", linewidth=1)
        for name in others:
            s = part[part["scenario"].astype(str) == name].sort_values("year")
            ax.plot(s["year"], s["diff"], color=colours[name], label=name)
            ax.fill_between(s["year"], s["diff_ci_low"], s["diff_ci_high"], color=colours[name], alpha=0.25,
                            linewidth=0)
        ax.set_title(f"{metric} ({group})", fontsize=10)
        ax.set_xlabel("year")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(f"minus {baseline}", fontsize=8)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Paired differences from {baseline} with 95% paired-t intervals")
    fig.tight_layout()
    return fig


def sensitivity_bars(sens) -> plt.Figure:
    """Sobol first- and total-order indices (or Morris mu* ) per parameter with 95% intervals."""
    sns.set_theme(style="whitegrid", context="notebook")
    t = sens.table
    fig, ax = plt.subplots(figsize=(7.5, 0.5 * len(t) + 2.0))
    y = range(len(t))
    if sens.method == "sobol":
        h = 0.38
        ax.barh([i - h / 2 for i in y], t["S1"], height=h, xerr=t["S1_conf"], label="first order S1", capsize=3)
        ax.barh([i + h / 2 for i in y], t["ST"], height=h, xerr=t["ST_conf"], label="total order ST", capsize=3)
        ax.set_xlabel("Sobol index (share of output variance)")
        ax.legend(fontsize=8)
    else:
        ax.barh(list(y), t["mu_star"], xerr=t["mu_star_conf"], capsize=3, label="mu*")
        ax.set_xlabel("Morris mu* (mean absolute elementary effect)")
    ax.set_yticks(list(y), t["parameter"], fontsize=8)
    ax.invert_yaxis()
    ax.set_title(f"{sens.metric} ({sens.group}, year {sens.year}, {sens.scenario}); 95% intervals", fontsize=10)
    fig.tight_layout()
    return fig
