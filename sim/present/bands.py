"""What a run's two figures draw, taken from its tidy metric frame: the replicate band of each
line by year. Apart from the drawing (`sim.present.run_figures`, matplotlib and numpy only), so
that `teachersim run`'s figure process (`sim.present.figure_process`) is handed these arrays and
never imports pandas (about 0.3 CPU s that process would pay again beside this one's)."""

from __future__ import annotations

from sim.metrics import HIGH_QUALITY_CV

LEGEND_LABELS = {"teachers": "teachers", "above_qualification": "above qualification",
                 "senior_title": "senior title", "backbone": "backbone", "pe_art": "PE/music/art"}
CV_PAIRS = [(f"cv_{key}", level) for level in HIGH_QUALITY_CV for key in LEGEND_LABELS]  # the CV figure's lines
ACTIVITY_PAIRS = [("rotations", "all"), ("returns", "all"), ("coverage_eligible", "all")]
RUN_FIGURES = ("cv_trajectories", "rotation_activity")  # the PNG files every run writes, by name


def run_figure_data(metrics, scenario=None) -> dict:
    """All the two run figures draw (`sim.present.run_figures.write_run_figures`): their bands, the
    scenario title and, with `scenario`, the years its first rotators' terms end."""
    from sim.present.report import first_term_ends, programs_of

    ends = first_term_ends(programs_of(scenario), int(metrics["year"].max())) if scenario is not None else None
    return {"cv": year_bands(metrics, CV_PAIRS), "activity": year_bands(metrics, ACTIVITY_PAIRS),
            "title": scenario_title(metrics), "term_ends": ends}


def scenario_title(metrics) -> str:
    """The scenario names of a metric frame, sorted, for a figure's title."""
    return ", ".join(sorted(metrics["scenario"].astype(str).unique()))


def year_bands(metrics, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], tuple]:
    """(years, mean, 2.5th, 97.5th percentile) over replicates of each (metric, subgroup) pair by
    year, from one grouping of the frame for all the lines of a figure (a grouping per line cost
    a run's figures about 0.1 s); a pair without rows gets empty arrays."""
    import pandas as pd  # loaded already wherever a frame is passed

    rows = metrics[metrics["metric"].isin({m for m, _ in pairs}) & metrics["subgroup"].isin({g for _, g in pairs})]
    by_year = rows.groupby(["metric", "subgroup", "year"])["value"]
    stats = pd.DataFrame({"mean": by_year.mean(), "low": by_year.quantile(0.025),
                          "high": by_year.quantile(0.975)}).reset_index()
    keys = list(zip(stats["metric"].astype(str).to_numpy(dtype=object),
                    stats["subgroup"].astype(str).to_numpy(dtype=object), strict=True))
    rows_of: dict[tuple[str, str], list[int]] = {}
    for i, key in enumerate(keys):
        rows_of.setdefault(key, []).append(i)
    columns = [stats[c].to_numpy() for c in ("year", "mean", "low", "high")]
    return {pair: tuple(c[rows_of.get(pair, [])] for c in columns) for pair in pairs}
