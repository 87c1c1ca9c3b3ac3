"""Every figure of sim.present.plots, rendered from the frozen results fixture, checked for what it drew.

The fixture (tests/data/fixture/, regenerated only on purpose by scripts/make_test_fixture.py)
holds a small run, a three-scenario comparison and a Sobol sweep, so these tests run no model.
"""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import REPO  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection, PolyCollection, QuadMesh  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

from sim.codes import TIERS  # noqa: E402
from sim.experiments.statistics import sensitivity  # noqa: E402
from sim.present import plots  # noqa: E402
from sim.storage.results import load_results  # noqa: E402

FIXTURE = REPO / "tests" / "data" / "fixture"
COMPARED = ["baseline_drift", "dongcheng_2021", "china_2014_floor"]


@pytest.fixture(scope="module")
def run():
    return load_results(FIXTURE / "run")


@pytest.fixture(scope="module")
def comparison():
    return load_results(FIXTURE / "compare")


@pytest.fixture(scope="module")
def sweep_results():
    return load_results(FIXTURE / "sweep")


@pytest.fixture(scope="module")
def graph():
    data = json.loads((FIXTURE / "run" / "graph.json").read_text(encoding="utf-8"))
    return nx.node_link_graph(data, edges="edges")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def line_labels(ax) -> list[str]:
    return [ln.get_label() for ln in ax.get_lines() if not ln.get_label().startswith("_")]


def rendered(fig) -> np.ndarray:
    """The figure drawn to RGB pixels (checks that drawing itself works, not only building)."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3]


# -------------------------------------------------------------------------------- runs


def test_fixture_is_what_the_script_says(run, comparison, sweep_results):
    assert run.kind == "run" and comparison.kind == "compare" and sweep_results.kind == "sweep"
    assert sorted(run.metrics["replicate"].unique()) == [0, 1, 2]
    assert int(run.metrics["year"].max()) == 4
    assert list(comparison.manifest["baseline"] for _ in [0]) == ["baseline_drift"]
    assert set(comparison.metrics["scenario"].astype(str)) == set(COMPARED)
    assert sweep_results.manifest["design"]["kind"] == "sobol"


def test_cv_trajectories_draws_five_indicators_and_the_limits(run):
    fig = plots.cv_trajectories(run.metrics)
    axes = visible_axes(fig)
    assert [ax.get_title() for ax in axes] == ["primary schools", "junior schools"]
    for ax, limit in zip(axes, (0.50, 0.45), strict=True):
        dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
        assert len(dashed) == 1 and np.allclose(dashed[0].get_ydata(), limit)
        drawn = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-" and len(ln.get_xdata())]
        assert len(drawn) == 5  # one per indicator (legend proxies have no data)
        assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 5  # replicate bands
    assert axes[0].get_ylabel() == "between-school CV (student-weighted)"
    # the legend sits below the panels, not over a line
    assert [ax.get_legend() for ax in axes] == [None, None]
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == list(plots.LEGEND_LABELS.values())
    fig.canvas.draw()
    box = legend.get_window_extent()
    assert all(box.y1 <= ax.get_window_extent().y0 for ax in axes)
    assert rendered(fig).std() > 0


def test_rotation_activity_counts_rotations_and_coverage(run):
    fig = plots.rotation_activity(run.metrics)
    a, b = visible_axes(fig)
    assert a.get_ylabel() == "teachers" and b.get_ylabel() == "share of eligible cohort rotated"
    m = run.metrics
    for line, metric in zip(a.get_lines()[:2], ("rotations", "returns"), strict=True):
        want = m[(m["metric"] == metric) & (m["subgroup"] == "all")].groupby("year")["value"].mean()
        assert np.allclose(line.get_xdata(), want.index) and np.allclose(line.get_ydata(), want.to_numpy())
    assert line_labels(a)[:2] == ["rotations started", "returns home at term end"]
    assert b.get_ylim() == (0.0, 1.05)
    # head counts on the axis are whole numbers with separators, never 2.5e+03
    fig.canvas.draw()
    ticks = [t.get_text() for t in a.get_yticklabels() if t.get_text()]
    assert ticks and all(t.replace(",", "").lstrip("-\u2212").isdigit() for t in ticks)


def test_term_ends_are_marked_where_rotators_go_home(run):
    from sim.present.report import first_term_ends, programs_of

    ends = first_term_ends(programs_of(run.manifest["scenario"]), 4)
    assert ends == [2, 3, 4]  # the fixture's programs have terms of 1-3 years; rotations start in year 1
    for fig in (plots.cv_trajectories(run.metrics, term_ends=ends),
                plots.rotation_activity(run.metrics, term_ends=ends),
                plots.cv_by_scenario(run.metrics, term_ends=ends)):
        for ax in visible_axes(fig):
            marks = [ln for ln in ax.get_lines() if ln.get_gid() == "term_end"]
            assert [ln.get_xdata()[0] for ln in marks] == ends
    fig = plots.cv_trajectories(run.metrics)
    assert not [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_gid() == "term_end"]


def test_cv_by_scenario_draws_a_line_and_band_per_scenario_and_the_limit(comparison):
    fig = plots.cv_by_scenario(comparison.metrics, "cv_backbone", ("primary", "junior"))
    axes = visible_axes(fig)
    assert [ax.get_title() for ax in axes] == ["primary schools", "junior schools"]
    assert line_labels(axes[0]) == [*COMPARED, "limit 0.50"]
    assert line_labels(axes[1]) == [*COMPARED, "limit 0.45"]
    assert len([c for c in axes[0].collections if isinstance(c, PolyCollection)]) == 3
    # the line is the mean over replicates, the band its t-interval
    m = comparison.metrics
    sel = m[(m["metric"] == "cv_backbone") & (m["subgroup"] == "primary") & (m["scenario"] == "dongcheng_2021")]
    want = sel.groupby("year")["value"].mean()
    line = axes[0].get_lines()[1]
    assert np.allclose(line.get_ydata(), want.to_numpy())
    band = plots.replicate_band(sel, ["year"])
    assert (band["ci_low"] < band["mean"]).all() and (band["mean"] < band["ci_high"]).all()
    assert axes[0].get_ylabel() == "cv_backbone"
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == [*COMPARED, "limit 0.50"]


def test_lorenz_curves_before_and_after(run):
    fig = plots.lorenz_curves(run.schools, "backbone")
    (ax,) = visible_axes(fig)
    labels = line_labels(ax)
    assert labels[0] == "equality" and len(labels) == 3
    assert labels[1].startswith("year 0 (Gini ") and labels[2].startswith("year 4 (Gini ")
    for ln in ax.get_lines()[1:]:
        x, y = ln.get_xdata(), ln.get_ydata()
        assert x[0] == 0 and y[0] == 0 and np.isclose(x[-1], 1) and np.isclose(y[-1], 1)
        assert np.all(np.diff(y) >= -1e-12) and np.all(y <= x + 1e-9)  # below the diagonal, rising
    # the Gini in the legend is the student-weighted Gini of the schools (one replicate's check)
    s = run.schools[(run.schools["year"] == 0)]
    ginis = []
    for _, rep in s.groupby("replicate"):
        x, y = plots.lorenz(rep["backbone_per100"].to_numpy(float), rep["enrolment"].to_numpy(float))
        ginis.append(1 - np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1])))
    shown = float(labels[1].split("Gini ")[1].rstrip(")"))
    assert abs(shown - np.mean(ginis)) < 0.02
    assert ax.get_xlabel() == "cumulative share of students"


def test_flow_heatmap_between_tiers_sums_the_flow_cells(run):
    fig = plots.flow_heatmap(run.metrics, "flow_tier")
    (ax,) = visible_axes(fig)
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    m = run.metrics[run.metrics["metric"] == "flow_tier"]
    tiers = {g.split("->")[i] for g in m["subgroup"] for i in (0, 1)}
    order = [t for t in TIERS if t in tiers]
    assert [t.get_text() for t in ax.get_yticklabels()] == order
    assert [t.get_text() for t in ax.get_xticklabels()] == order
    assert mesh.get_array().size == len(order) ** 2
    total = m["value"].sum() / 3  # three replicates
    assert np.isclose(np.asarray(mesh.get_array()).sum(), total)
    annotated = sum(float(t.get_text()) for t in ax.texts)
    assert abs(annotated - total) <= len(order) ** 2 * 0.5  # cell labels are rounded
    assert ax.get_xlabel() == "to (host)" and ax.get_ylabel() == "from (home)"


def test_flow_heatmap_between_districts_has_cross_district_cells(run):
    fig = plots.flow_heatmap(run.metrics, "flow_district", years=[1, 2])
    (ax,) = visible_axes(fig)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Dongcheng", "Xicheng"]
    matrix = plots.flow_matrix(run.metrics, "flow_district", years=[1, 2])
    assert matrix.shape == (2, 2) and matrix.loc["Dongcheng", "Xicheng"] > 0
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    assert np.allclose(np.asarray(mesh.get_array()).ravel(), matrix.to_numpy().ravel())
    assert "years 1-2" in fig._suptitle.get_text()


def test_coverage_curves(comparison):
    fig = plots.coverage_curves(comparison.metrics)
    axes = visible_axes(fig)
    assert len(axes) == 2
    assert [ax.get_title() for ax in axes] == ["cumulative share of the eligible cohort who have rotated",
                                               "share of teachers in post who have rotated during the run"]
    for ax in axes:
        assert line_labels(ax) == COMPARED
        assert ax.get_ylim() == (0.0, 1.05)
    for ln in axes[0].get_lines()[:3]:
        assert np.all(np.diff(ln.get_ydata()) >= -1e-12)  # coverage of the cohort never falls
    eligible = axes[0].get_lines()[1].get_ydata()  # dongcheng_2021: everyone eligible within 3 years
    assert eligible[-1] > 0.95 and eligible[0] == 0


def test_quality_by_tier_draws_a_box_per_tier_and_year(run):
    fig = plots.quality_by_tier(run.schools)
    (ax,) = visible_axes(fig)
    tiers = [t for t in TIERS if t in set(run.schools["tier"].astype(str))]
    years = [int(t.get_text()) for t in ax.get_xticklabels()]
    assert years[0] == 0 and years[-1] == 4 and len(years) == 4
    boxes = [p for p in ax.patches if type(p).__name__ == "PathPatch"]
    assert len(boxes) == len(tiers) * len(years)
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == tiers
    assert ax.get_ylabel() == "mean teaching quality at the school"
    # the legend covers no box: it sits below the panel
    fig.canvas.draw()
    box = legend.get_window_extent()
    assert ax.get_legend() is None and box.y1 <= ax.get_window_extent().y0
    assert not any(box.overlaps(b.get_window_extent()) for b in boxes)


def test_difference_forest_one_row_per_scenario_and_marker_per_year(comparison):
    table = comparison.comparison
    fig = plots.difference_forest(table)
    axes = visible_axes(fig)
    outcomes = list(dict.fromkeys(zip(table["metric"], table["subgroup"], strict=True)))
    assert [ax.get_title() for ax in axes] == [f"{m} ({g})" for m, g in outcomes]
    others = ["dongcheng_2021", "china_2014_floor"]
    for ax, (metric, group) in zip(axes, outcomes, strict=True):
        assert [t.get_text() for t in ax.get_yticklabels()] == others
        assert ax.get_xlabel() == "minus baseline_drift"
        assert len(ax.containers) == 2  # one errorbar set per reported year (2 and 4)
        points = ax.containers[1].lines[0].get_xdata()
        want = table[(table["metric"] == metric) & (table["subgroup"] == group) & (table["year"] == 4)]
        want = want.set_index(want["scenario"].astype(str)).loc[others, "diff"].to_numpy()
        assert np.allclose(points, want)
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == ["year 2", "year 4"]


def test_compare_trajectories_and_differences(comparison):
    fig = plots.compare_trajectories(comparison.trajectories, "baseline_drift")
    axes = visible_axes(fig)
    outcomes = list(dict.fromkeys(zip(comparison.trajectories["metric"], comparison.trajectories["subgroup"],
                                      strict=True)))
    assert len(axes) == len(outcomes)
    for ax, (metric, group) in zip(axes, outcomes, strict=True):
        limit = plots.threshold_of(metric, group)
        assert line_labels(ax) == COMPARED + ([f"limit {limit:.2f}"] if limit is not None else [])
    assert any(plots.threshold_of(m, g) is not None for m, g in outcomes)  # the CV panels show their limit
    fig2 = plots.compare_differences(comparison.trajectories, "baseline_drift")
    axes2 = visible_axes(fig2)
    assert line_labels(axes2[0]) == ["dongcheng_2021", "china_2014_floor"]
    assert all(ax.get_ylabel() == "minus baseline_drift" for ax in axes2)


def test_compare_figures_mark_each_scenarios_term_ends_in_its_colour(comparison):
    from matplotlib.colors import to_hex

    from sim.present.report import first_term_ends, programs_of, term_ends_by_scenario

    last = int(comparison.trajectories["year"].max())
    ends = term_ends_by_scenario(comparison.manifest["scenarios"], last)
    by_name = {s["name"]: s for s in comparison.manifest["scenarios"]}
    assert ends["dongcheng_2021"] == first_term_ends(programs_of(by_name["dongcheng_2021"]), last)
    assert any(ends.values())  # the fixture's years reach a term end
    for make in (plots.compare_trajectories, plots.compare_differences):
        fig = make(comparison.trajectories, "baseline_drift", ends)
        colours = {to_hex(line.get_color()): name for name in ends
                   for line in visible_axes(fig)[0].get_lines() if line.get_label() == name}
        for ax in visible_axes(fig):
            marked = sorted((colours[to_hex(v.get_color())], int(v.get_xdata()[0])) for v in ax.get_lines()
                            if v.get_gid() == "term_end")
            assert marked == sorted((n, y) for n, years in ends.items() for y in years if n in colours.values())
        assert not [v for v in visible_axes(make(comparison.trajectories, "baseline_drift"))[0].get_lines()
                    if v.get_gid() == "term_end"]


def test_sensitivity_bars_from_the_fixture_sweep():
    sens = sensitivity(FIXTURE / "sweep", "cv_quality", group="all")
    fig = plots.sensitivity_bars(sens)
    (ax,) = visible_axes(fig)
    bars = [p for p in ax.patches if type(p).__name__ == "Rectangle"]
    assert len(bars) == 2 * len(sens.table)  # S1 and ST per parameter
    assert [t.get_text() for t in ax.get_yticklabels()] == list(sens.table["parameter"])
    assert ax.get_xlabel() == "Sobol index (share of output variance)"
    widths = sorted(b.get_width() for b in bars)
    assert np.allclose(widths, sorted([*sens.table["S1"], *sens.table["ST"]]))


def test_sweep_response_one_point_per_design_point(sweep_results):
    param = "quota_min_count"
    fig = plots.sweep_response(sweep_results.metrics, param, "cv_backbone", "primary", year=3)
    (ax,) = visible_axes(fig)
    assert ax.get_xlabel() == param and ax.get_ylabel() == "cv_backbone (primary), year 3"
    n_points = sweep_results.manifest["design"]["n_points"]
    xs = ax.containers[0].lines[0].get_xdata()
    assert len(xs) == n_points and np.all(np.diff(xs) >= 0)
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(dashed) == 1 and np.allclose(dashed[0].get_ydata(), 0.50)


def test_network_map_draws_schools_groups_twinning_and_flows(graph, run):
    fig = plots.network_map(graph, run.moves, year=1)
    ax, flow_ax = visible_axes(fig)
    schools = [n for n, d in graph.nodes(data=True) if d["kind"] == "school"]
    scatter = next(c for c in ax.collections if isinstance(c, PathCollection) and c.get_gid() == "schools")
    assert len(scatter.get_offsets()) == len(schools)
    lines = {c.get_gid(): c for c in ax.collections if isinstance(c, LineCollection)}
    n_twin = sum(1 for *_, d in graph.edges(data=True) if d["kind"] == "twinning")
    assert len(lines["twinning"].get_segments()) == n_twin > 0
    members = sum(1 for *_, d in graph.edges(data=True) if d["kind"] == "member" and not d["leading"])
    assert len(lines["groups"].get_segments()) == members > 0
    names = {t.get_text() for t in ax.texts if t.get_gid() == "district_label"}
    assert names == {"Dongcheng", "Xicheng"}
    assert ax.get_xlabel() == "km east"
    # the flows: summed between units (not one arrow per pair of schools), wider for more teachers
    mv = run.moves
    year1 = mv[(mv["kind"] == "rotation") & (mv["year"] == 1) & (mv["replicate"] == 0)]
    unit_of, _ = plots.flow_units(graph)
    pairs = year1.groupby([year1["from_school"].map(unit_of), year1["to_school"].map(unit_of)]).size()
    between = pairs[[a != b for a, b in pairs.index]]
    school_pairs = {(a, b) for a, b in zip(year1["from_school"], year1["to_school"], strict=True) if a != b}
    arrows = [p for p in flow_ax.patches if isinstance(p, FancyArrowPatch) and p.get_gid() == "flow"]
    assert len(arrows) == min(len(between), plots.DRAWN_FLOWS) > 0 and len(arrows) < len(school_pairs)
    widths = [a.get_linewidth() for a in arrows]  # drawn largest first
    assert widths == sorted(widths, reverse=True) and widths[0] > widths[-1]
    labels = [int(t.get_text().replace(",", "")) for t in flow_ax.texts if t.get_gid() == "flow_label"]
    assert labels == sorted(between, reverse=True)[:len(labels)]
    assert pairs.sum() == len(year1)
    assert f"{len(year1):,} rotations in year 1" in flow_ax.get_title()
    unit_names = {t.get_text() for t in flow_ax.texts if t.get_gid() == "unit_label"}
    assert unit_names == set(unit_of.values())
    assert rendered(fig).std() > 0


def test_flow_units_by_group_or_district(graph):
    by_group, what = plots.flow_units(graph, "group")
    assert what.startswith("education groups")
    groups = {d["name"] for _, d in graph.nodes(data=True) if d["kind"] == "group"}
    assert groups <= set(by_group.values())
    member = next(s for g, s, d in graph.edges(data=True) if d["kind"] == "member")
    by_district, what = plots.flow_units(graph, "district")
    assert what == "districts" and set(by_district.values()) == {"Dongcheng", "Xicheng"}
    assert set(by_group) == set(by_district) == {n for n, d in graph.nodes(data=True) if d["kind"] == "school"}
    assert member in by_group


def test_network_map_colours_schools_by_a_value(graph, run):
    s = run.schools[(run.schools["year"] == 0) & (run.schools["replicate"] == 0)].set_index("school")
    fig = plots.network_map(graph, values=s["backbone_per100"], value_label="backbone per 100 students")
    ax = fig.axes[0]
    scatter = next(c for c in ax.collections if c.get_gid() == "schools")
    assert np.allclose(scatter.get_array(), s["backbone_per100"].sort_index().to_numpy())
    assert fig.axes[1].get_ylabel() == "backbone per 100 students"  # the colour bar
    assert not [p for p in ax.patches if p.get_gid() == "flow"]


def test_sweep_response_one_series_per_value_of_a_second_parameter(sweep_results):
    m = sweep_results.metrics.copy()
    m["drift_high"] = m["careers_drift_rate"] > 0.04  # a two-valued column standing in for a grid axis
    fig = plots.sweep_response(m, "quota_min_count", "cv_quality", "all", hue="drift_high")
    (ax,) = visible_axes(fig)
    assert len(ax.containers) == 2
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["drift_high = False", "drift_high = True"]  # cv_quality has no official limit
    n = [len(c.lines[0].get_xdata()) for c in ax.containers]
    assert sum(n) == sweep_results.manifest["design"]["n_points"]
    assert all(c.lines[0].get_linestyle() == "-" for c in ax.containers)  # joined within a series


def test_sweep_response_separates_a_categorical_grid_axis():
    """A grid of quota x matching rule: one series per rule, set apart, each with its own marker."""
    import pandas as pd

    from sim.present.html_report import response_hue

    quota, rule, drift = "policy.programs.0.quota.min_count", "policy.programs.0.matching", "careers.drift_rate"
    rows = [{"point": 2 * q + r, quota: 500 * (q + 1), rule: ("random", "need")[r], drift: 0.01 * (2 * q + r),
             "replicate": rep, "year": 10, "metric": "cv_backbone", "subgroup": "primary",
             "value": 0.9 - 0.1 * q - 0.2 * r + 0.01 * rep}
            for q in range(4) for r in range(2) for rep in range(3)]
    m = pd.DataFrame(rows)
    assert response_hue(m, [quota, rule, drift], quota) == rule
    assert response_hue(m, [quota, drift], quota) is None  # 8 values: not a grid axis
    assert response_hue(m, [quota, rule], rule) == quota  # against the rule: one series per quota
    fig = plots.sweep_response(m, quota, "cv_backbone", "primary", hue=rule)
    (ax,) = visible_axes(fig)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sorted(labels) == sorted([f"{rule} = need", f"{rule} = random", "threshold 0.50"])
    need, rand = (c.lines[0] for c in ax.containers)
    assert need.get_marker() != rand.get_marker()
    xs_need, xs_rand = need.get_xdata(), rand.get_xdata()
    assert not set(np.round(xs_need, 6)) & set(np.round(xs_rand, 6))  # set apart: no interval hides another
    assert np.allclose(need.get_ydata(), [0.71, 0.61, 0.51, 0.41]) and np.allclose(rand.get_ydata(), [0.91, 0.81,
                                                                                                     0.71, 0.61])


def test_run_figures_use_seaborns_look_without_importing_it():
    """The two run figures are drawn without seaborn (about 1.2 s of a run's start-up); their
    rc values, palette and tier colours are seaborn's own, so the look cannot drift from the others'."""
    import seaborn as sns

    theme = {**sns.axes_style("whitegrid"), **sns.plotting_context("notebook")}
    del theme["image.cmap"]  # seaborn's own "rocket" colormap; no run figure draws an image
    assert {k: v for k, v in plots.RUN_THEME.items() if k != "axes.prop_cycle"} == theme
    assert plots.DEEP == sns.color_palette("deep").as_hex()
    assert np.allclose([plots.TIER_COLOURS[t] for t in plots.TIERS], sns.color_palette("RdYlGn", len(plots.TIERS)))


def test_the_run_theme_puts_back_only_its_own_settings():
    """A notebook's inline backend switches `interactive` on when the first figure is made; if
    the theme put that back too, the notebook's later figures would not be shown."""
    import matplotlib.pyplot as plt

    before_grid, before_interactive = plt.rcParams["axes.grid"], plt.rcParams["interactive"]
    try:
        with plots.run_theme():
            assert plt.rcParams["axes.grid"] is True
            plt.rcParams["interactive"] = not before_interactive  # what the inline backend does
        assert plt.rcParams["axes.grid"] == before_grid
        assert plt.rcParams["interactive"] == (not before_interactive)
    finally:
        plt.rcParams["interactive"] = before_interactive


def test_year_bands_equal_each_line_grouped_on_its_own(run):
    """The run figures group the metrics once for all their lines (issue 20); each line's mean
    and 2.5-97.5 percentile band must be those a grouping of that line's rows alone gives."""
    m = run.metrics.copy()
    m.loc[m.index[::9], "value"] = np.nan  # missing values are skipped, as seaborn's band skipped them
    pairs = [("cv_backbone", "primary"), ("cv_pe_art", "junior"), ("rotations", "all"), ("no_such_metric", "all")]
    bands = plots.year_bands(m, pairs)
    for metric, group in pairs:
        by_year = m[(m["metric"] == metric) & (m["subgroup"] == group)].groupby("year")["value"]
        years, mean, low, high = bands[(metric, group)]
        assert years.tolist() == by_year.mean().index.tolist()
        for got, want in ((mean, by_year.mean()), (low, by_year.quantile(0.025)), (high, by_year.quantile(0.975))):
            assert got.tobytes() == want.to_numpy(dtype=float).tobytes(), (metric, group)
    assert len(bands[("no_such_metric", "all")][0]) == 0 and len(bands[("rotations", "all")][0]) == 5


def test_a_laid_out_figure_is_drawn_once_when_saved(run, monkeypatch):
    """`Figure.tight_layout` left a placeholder layout engine behind, and `savefig` then drew the
    whole figure twice (issue 20: a third of a run figure's time); `lay_out` sets the same
    subplot parameters without one."""
    from matplotlib.figure import Figure

    draws = []
    real = Figure.draw
    monkeypatch.setattr(Figure, "draw", lambda fig, renderer: draws.append(fig) or real(fig, renderer))
    for make in (plots.cv_trajectories, plots.rotation_activity):
        fig = make(run.metrics)
        assert fig.get_layout_engine() is None
        plots.png_bytes(fig)
    assert len(draws) == 2


def test_lay_out_draws_what_tight_layout_drew(run, monkeypatch):
    """The same subplot parameters and the same PNG bytes as `Figure.tight_layout` gave."""
    made = {}
    for way in ("lay_out", "tight_layout"):
        if way == "tight_layout":
            monkeypatch.setattr(plots, "lay_out", lambda fig, spines=True, **tight: fig.tight_layout(**tight))
        fig = plots.cv_trajectories(run.metrics)
        params = [getattr(fig.subplotpars, p) for p in ("left", "right", "bottom", "top", "wspace", "hspace")]
        made[way] = (params, plots.png_bytes(fig))
    assert made["lay_out"] == made["tight_layout"]


def test_the_collector_is_paused_while_the_run_figures_are_drawn_and_back_after(run, tmp_path, monkeypatch):
    import gc

    from sim.present import run_figures  # where the run figures are drawn (plots names them too)

    seen = []
    real = run_figures.png_bytes
    monkeypatch.setattr(run_figures, "png_bytes", lambda fig: seen.append(gc.isenabled()) or real(fig))
    assert gc.isenabled()
    paths = plots.save_run_figures(run.metrics, tmp_path)
    assert seen == [False, False] and gc.isenabled()
    assert [p.name for p in paths] == ["cv_trajectories.png", "rotation_activity.png"]


def test_band_polygons_fill_what_fill_between_filled():
    """The run figures' bands are built as polygons (issue 20: `fill_between` cost about 4 ms a
    band); each run of finite values must give the region `fill_between` gave, a gap where a value
    is missing."""
    from matplotlib.figure import Figure

    def area(v):
        x, y = v[:, 0], v[:, 1]
        return 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))

    x = np.arange(9.0)
    low = np.array([0.1, 0.2, np.nan, 0.3, 0.2, 0.25, 0.3, np.nan, 0.1])
    high = low + np.array([0.3, 0.1, 0.2, 0.5, 0.4, 0.2, 0.1, 0.3, 0.2])
    filled = Figure().add_subplot().fill_between(x, low, high).get_paths()
    ours = plots.band_polygons(x, low, high)
    assert len(ours) == len(filled) == 3  # the lone last point a region of no area, in both
    for poly, path in zip(ours, filled, strict=True):
        assert np.isclose(area(poly), area(path.vertices))
        assert np.allclose(poly.min(axis=0), path.vertices.min(axis=0))
        assert np.allclose(poly.max(axis=0), path.vertices.max(axis=0))
    assert plots.band_polygons([], [], []) == []


def test_the_run_figures_lay_out_without_the_spines(run):
    """Each spine's extent placed its axis's ticks again during the layout (issue 20: a sixth of
    a run figure's time); the run figures' spines lie on the axes' edges, so they are left out
    (`test_lay_out_draws_what_tight_layout_drew`: the same subplot parameters and bytes)."""
    for make in (plots.cv_trajectories, plots.rotation_activity):
        fig = make(run.metrics)
        assert [s.get_in_layout() for ax in fig.axes for s in ax.spines.values()] == [False] * 4 * len(fig.axes)
        plots.png_bytes(fig)


def test_the_run_figures_titles_are_placed_without_measuring_the_x_axis(run, monkeypatch):
    """Left to place a title itself, matplotlib measured the x axis (its ticks updated, their
    labels laid out) at every layout and draw to keep the title above anything the axis drew on
    top (issue 20: half a run figure's tick updates). The run figures' x axes draw nothing above
    the axes, so the titles sit at the top, clear of the axes, as the automatic placement left them."""
    from matplotlib.axis import XAxis

    calls = []
    real = XAxis.get_tightbbox
    monkeypatch.setattr(XAxis, "get_tightbbox", lambda axis, *a, **k: calls.append(axis) or real(axis, *a, **k))
    for make in (plots.cv_trajectories, plots.rotation_activity):
        fig = make(run.metrics)
        calls.clear()
        fig.canvas.draw()
        assert calls == []
        for ax in fig.axes:
            assert ax.title.get_position()[1] == 1.0
            assert ax.title.get_window_extent().y0 >= ax.bbox.y1 >= ax.xaxis.get_tightbbox().y1


def test_a_run_of_one_replicate_draws_no_band_and_no_pixel_is_missing(run):
    """With one replicate the 2.5-97.5 percentile band has no width: its polygons fill no pixel,
    so the run figures add none (issue 20: a default run has one replicate; 13 collections a run);
    adding them back changes no pixel."""
    one = run.metrics[run.metrics["replicate"] == 0]
    for make, bands in ((plots.cv_trajectories, 10), (plots.rotation_activity, 3)):
        fig = make(one)
        assert not [c for ax in fig.axes for c in ax.collections if isinstance(c, PolyCollection)]
        without = rendered(fig).copy()
        for ax in fig.axes:
            for line in ax.get_lines():
                x, y = line.get_xdata(), line.get_ydata()
                if line.get_gid() != "term_end" and len(x) > 2:
                    ax.add_collection(PolyCollection(plots.band_polygons(x, y, y), color=line.get_color(), alpha=0.2,
                                                     linewidth=0), autolim=False)
        assert sum(isinstance(c, PolyCollection) for ax in fig.axes for c in ax.collections) == bands
        assert np.array_equal(rendered(fig), without)
