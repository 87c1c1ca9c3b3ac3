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
