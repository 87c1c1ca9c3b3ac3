"""DRAFT: new figures, to be appended to sim/plots.py (this file is removed then)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from sim.codes import TIERS
from sim.metrics import BASIC_CV, HIGH_QUALITY_CV, INDICATORS, REGISTRY

# ------------------------------------------------------------------ figures for notebooks and reports

TIER_COLOURS = dict(zip(TIERS, sns.color_palette("RdYlGn", n_colors=len(TIERS)), strict=True))
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
    """Mean and 95% t-interval over replicates of `value` for each combination of `keys`
    (non-finite values left out; the interval is NaN with a single replicate)."""
    from sim.analysis import t_interval

    rows = []
    for key, part in frame.groupby(keys, observed=True, sort=False):
        x = part[value].to_numpy(dtype=float)
        x = x[np.isfinite(x)]
        mean, lo, hi = t_interval(x)
        rows.append(dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
                    | {"mean": mean, "ci_low": lo, "ci_high": hi, "n": len(x)})
    return pd.DataFrame(rows, columns=[*keys, "mean", "ci_low", "ci_high", "n"])


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
                   groups: tuple[str, ...] = ("primary", "junior")) -> plt.Figure:
    """One CV metric over the years, one panel per group and one line per scenario: the mean over
    replicates with its 95% t-interval as a band, and the official limit as a dashed black line."""
    sns.set_theme(style="whitegrid", context="notebook")
    data = metrics[metrics["metric"] == metric]
    scenarios = _order(data["scenario"])
    colours = _colours(scenarios)
    fig, axes = plt.subplots(1, len(groups), figsize=(5.2 * len(groups), 4.0), sharey=True, squeeze=False)
    for ax, group in zip(axes[0], groups, strict=True):
        _band_lines(ax, data[data["group"] == group], scenarios, colours)
        limit = threshold_of(metric, group)
        if limit is not None:
            ax.axhline(limit, color="black", linestyle="--", linewidth=1, label=f"limit {limit:.2f}")
        ax.set_title(f"{group} schools" if group in HIGH_QUALITY_CV else group)
        ax.set_xlabel("year")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0][0].set_ylabel(_label(metric))
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{metric}: mean over replicates with 95% t-interval")
    fig.tight_layout()
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
    fig, axes = plt.subplots(1, len(scenarios), figsize=(4.6 * len(scenarios), 4.4), squeeze=False)
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
    fig.suptitle(f"Lorenz curves of {indicator} across schools (student-weighted)")
    fig.tight_layout()
    return fig


def flow_matrix(metrics: pd.DataFrame, metric: str = "flow_tier", years: list[int] | None = None) -> pd.DataFrame:
    """Rotations from (rows) to (columns), summed over `years` (default every year) and averaged
    over replicates (cells without a move count as zero), for one scenario's tidy metric rows."""
    data = metrics[metrics["metric"] == metric]
    if years is not None:
        data = data[data["year"].isin(years)]
    reps = sorted(metrics["replicate"].unique())
    split = data["group"].astype(str).str.split("->", n=1, expand=True)
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
    size = 1.2 + 0.75 * n
    fig, axes = plt.subplots(1, len(scenarios), figsize=((size + 1.2) * len(scenarios), size), squeeze=False)
    what = "tiers" if metric == "flow_tier" else "districts"
    span = "all years" if years is None else f"years {min(years)}-{max(years)}"
    for ax, name, mat in zip(axes[0], scenarios, mats, strict=True):
        if mat.empty:
            ax.text(0.5, 0.5, "no rotations", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
        else:
            sns.heatmap(mat, annot=True, fmt=".0f", cmap="Blues", cbar=False, square=True, linewidths=0.5, ax=ax)
            ax.set_xlabel("to (host)")
            ax.set_ylabel("from (home)")
        ax.set_title(name, fontsize=10)
    fig.suptitle(f"Rotations between {what}, {span} (mean over replicates)")
    fig.tight_layout()
    return fig


def coverage_curves(metrics: pd.DataFrame) -> plt.Figure:
    """Cumulative coverage over the years: of the eligible cohort (`coverage_eligible`) and of all
    teachers in post (`coverage_staff`), one line per scenario with its 95% t-interval band."""
    sns.set_theme(style="whitegrid", context="notebook")
    scenarios = _order(metrics["scenario"])
    colours = _colours(scenarios)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.0), sharey=True)
    for ax, metric in zip(axes, ("coverage_eligible", "coverage_staff"), strict=True):
        data = metrics[(metrics["metric"] == metric) & (metrics["group"] == "all")]
        _band_lines(ax, data, scenarios, colours)
        ax.axhline(1.0, color="black", linestyle="--", linewidth=1)
        ax.set_ylim(0, 1.05)
        ax.set_title(_label(metric), fontsize=10)
        ax.set_xlabel("year")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_ylabel("share rotated")
    axes[0].legend(fontsize=8)
    fig.suptitle("Coverage of rotation (mean over replicates, 95% t-interval)")
    fig.tight_layout()
    return fig


def _spread_years(years: list[int], most: int = 4) -> list[int]:
    if len(years) <= most:
        return years
    picks = np.linspace(0, len(years) - 1, most).round().astype(int)
    return [years[i] for i in sorted(set(picks.tolist()))]


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
        sns.boxplot(part, x="year", y="mean_quality", hue="tier", hue_order=tiers, order=years,
                    palette=[TIER_COLOURS[t] for t in tiers], fliersize=2, linewidth=0.8, ax=ax,
                    legend=ax is axes[0][0])
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("year")
    axes[0][0].set_ylabel("mean teaching quality at the school")
    fig.suptitle("Teaching quality across schools by tier")
    fig.tight_layout()
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
    outcomes = list(dict.fromkeys(zip(rows["metric"], rows["group"], strict=True)))
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
        part = rows[(rows["metric"] == metric) & (rows["group"] == group)]
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
    fig.tight_layout()
    return fig


def sweep_response(metrics: pd.DataFrame, parameter: str, metric: str, group: str = "all",
                   year: int | None = None, threshold: float | None = None) -> plt.Figure:
    """A sweep's outcome at one year against one swept parameter: at each design point the mean
    over its replicates with a 95% t-interval; a dashed line marks `threshold` (by default the
    official limit when the outcome is a CV of a level group)."""
    sns.set_theme(style="whitegrid", context="notebook")
    data = metrics[(metrics["metric"] == metric) & (metrics["group"] == group)]
    year = int(data["year"].max()) if year is None else year
    data = data[data["year"] == year]
    band = replicate_band(data, ["point", parameter])
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    x = band[parameter]
    numeric = pd.api.types.is_numeric_dtype(x)
    if numeric:
        band = band.sort_values(parameter)
        xs = band[parameter].to_numpy(dtype=float)
    else:
        cats = list(dict.fromkeys(x.astype(str)))
        xs = np.array([cats.index(v) for v in band[parameter].astype(str)], dtype=float)
        ax.set_xticks(range(len(cats)), cats)
    err = np.nan_to_num(np.vstack([band["mean"] - band["ci_low"], band["ci_high"] - band["mean"]]).astype(float))
    ax.errorbar(xs, band["mean"].to_numpy(dtype=float), yerr=err, fmt="o", capsize=3, label="design point")
    limit = threshold if threshold is not None else threshold_of(metric, group)
    if limit is not None:
        ax.axhline(limit, color="black", linestyle="--", linewidth=1, label=f"threshold {limit:.2f}")
    ax.set_xlabel(parameter)
    ax.set_ylabel(f"{metric} ({group}), year {year}")
    ax.legend(fontsize=8)
    ax.set_title(f"{metric} ({group}) at year {year} across the sweep (95% t-intervals)", fontsize=10)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------- the network map


def network_map(graph, moves: pd.DataFrame | None = None, year: int | None = None,
                values: pd.Series | None = None, value_label: str = "", title: str | None = None) -> plt.Figure:
    """The place graph drawn on the map: schools at their coordinates (colour: tier, or `values`
    by school id; size: enrolment), districts outlined and named, education groups as thin lines
    from each member to its leading school, twinning pairs as dashed lines, and the rotations of
    `year` (every year when None) as arrows from home to host, thicker for more teachers.

    `moves` is a tidy moves frame (`RunResult.moves`); only rotation moves of the first replicate
    are drawn.
    """
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch, Polygon

    sns.set_theme(style="white", context="notebook")
    schools = sorted(n for n, d in graph.nodes(data=True) if d.get("kind") == "school")
    pos = {n: (graph.nodes[n]["x"], graph.nodes[n]["y"]) for n in schools}
    fig, ax = plt.subplots(figsize=(8.5, 7.5))
    # districts: the convex hull of their schools, and the name at the centre
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
            ax.text(cx, cy, graph.nodes[d]["name"], fontsize=11, fontweight="bold", color="#555555", ha="center",
                    va="center", alpha=0.8, zorder=1, gid="district_label")
    # education groups and twinning pairs
    member_segments, twin_segments = [], []
    for g in (n for n, d in graph.nodes(data=True) if d.get("kind") == "group"):
        members = [s for s in graph.neighbors(g) if graph.nodes[s].get("kind") == "school"]
        leaders = [s for s in members if graph.edges[g, s].get("leading")]
        if leaders:
            member_segments += [(pos[leaders[0]], pos[s]) for s in members if s != leaders[0]]
    for a, b, d in graph.edges(data=True):
        if d.get("kind") == "twinning":
            twin_segments.append((pos[a], pos[b]))
    groups = LineCollection(member_segments, colors="#7f8c8d", linewidths=0.6, alpha=0.6, zorder=2,
                            label="education group (to its leading school)")
    groups.set_gid("groups")
    ax.add_collection(groups)
    twins = LineCollection(twin_segments, colors="#2c3e50", linewidths=1.2, linestyles="--", zorder=2,
                           label="twinning pair")
    twins.set_gid("twinning")
    ax.add_collection(twins)
    # schools
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
    # flows
    n_moves = 0
    if moves is not None and len(moves):
        mv = moves[moves["kind"].astype(str) == "rotation"]
        if "replicate" in mv.columns and len(mv):
            mv = mv[mv["replicate"] == mv["replicate"].min()]
        if year is not None:
            mv = mv[mv["year"] == year]
        mv = mv[mv["from_school"].isin(pos) & mv["to_school"].isin(pos)]
        n_moves = len(mv)
        counts = mv.groupby(["from_school", "to_school"]).size()
        top = max(counts.max(), 1) if len(counts) else 1
        for (a, b), k in counts.items():
            if a == b:
                continue
            width = 0.6 + 3.4 * k / top
            ax.add_patch(FancyArrowPatch(pos[a], pos[b], arrowstyle="-|>", mutation_scale=6 + 2 * width,
                                         linewidth=width, color=FLOW_COLOUR, alpha=0.55,
                                         connectionstyle="arc3,rad=0.15", zorder=4, gid="flow"))
        handles.append(Line2D([], [], color=FLOW_COLOUR, linewidth=2, label="rotations (home to host)"))
    handles += [Line2D([], [], color="#2c3e50", linestyle="--", label="twinning pair"),
                Line2D([], [], color="#7f8c8d", linewidth=0.8, label="education group")]
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0) if values is None else
              (0.0, -0.08), frameon=False)
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.set_xlabel("km east")
    ax.set_ylabel("km north")
    when = "all years" if year is None else f"year {year}"
    ax.set_title(title or (f"Schools, groups and twinning pairs; {n_moves} rotations in {when}"
                           if moves is not None else "Schools, groups and twinning pairs"), fontsize=11)
    fig.tight_layout()
    return fig
