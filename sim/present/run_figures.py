"""The two figures every run writes (`cv_trajectories`, `rotation_activity` in `sim.present.plots`),
drawn from their bands (`sim.present.bands`) with matplotlib and numpy alone, in seaborn's look
(`RUN_THEME`): `teachersim run` imports neither seaborn (and scipy.stats through it, about 1.2 s)
nor, in its figure process (`sim.present.figure_process`), pandas."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import matplotlib


def _in_jupyter_kernel() -> bool:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"


if not _in_jupyter_kernel():  # files are drawn off-screen; a notebook keeps its inline backend
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import cycler  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.layout_engine import TightLayoutEngine  # noqa: E402
from matplotlib.ticker import MaxNLocator, StrMethodFormatter  # noqa: E402

from sim.metrics import HIGH_QUALITY_CV  # noqa: E402
from sim.present.bands import LEGEND_LABELS, RUN_FIGURES  # noqa: E402

# seaborn's "deep" palette and its whitegrid style at notebook context (what
# `sns.set_theme(style="whitegrid", context="notebook")` sets), as a plain rc dict; all but
# "image.cmap" ("rocket", a colormap seaborn registers), which line figures do not use
DEEP = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974",
        "#64b5cd"]
RUN_THEME = {
    "axes.prop_cycle": cycler(color=DEEP), "figure.facecolor": "white", "axes.facecolor": "white",
    "axes.labelcolor": ".15", "text.color": ".15", "xtick.color": ".15", "ytick.color": ".15",
    "xtick.direction": "out", "ytick.direction": "out", "axes.axisbelow": True, "axes.grid": True,
    "axes.edgecolor": ".8", "axes.spines.left": True, "axes.spines.bottom": True, "axes.spines.right": True,
    "axes.spines.top": True, "grid.color": ".8", "grid.linestyle": "-", "font.family": ["sans-serif"],
    "font.sans-serif": ["Arial", "DejaVu Sans", "Liberation Sans", "Bitstream Vera Sans", "sans-serif"],
    "lines.solid_capstyle": "round", "patch.edgecolor": "w", "patch.force_edgecolor": True,
    "xtick.top": False, "ytick.right": False, "xtick.bottom": False, "ytick.left": False,
    "axes.linewidth": 1.25, "grid.linewidth": 1, "lines.linewidth": 1.5, "lines.markersize": 6,
    "patch.linewidth": 1, "xtick.major.width": 1.25, "ytick.major.width": 1.25, "xtick.minor.width": 1,
    "ytick.minor.width": 1, "xtick.major.size": 6, "ytick.major.size": 6, "xtick.minor.size": 4,
    "ytick.minor.size": 4, "font.size": 12, "axes.labelsize": 12, "axes.titlesize": 12, "xtick.labelsize": 11,
    "ytick.labelsize": 11, "legend.fontsize": 11, "legend.title_fontsize": 12,
}

# The run figures' panel titles at the top of their axes. Without a `y`, matplotlib places a
# title above whatever the x axis draws there, measuring that axis (its ticks updated, their
# labels laid out) at the layout and again at the draw: half of a run figure's tick updates.
# Their x axes draw nothing above the axes, so the title stays where it was (the same PNG bytes).
TITLE_AT_TOP = {"y": 1.0}


@contextmanager
def run_theme():
    """RUN_THEME for the block, and only its keys put back after: `plt.rc_context` would also
    put back `interactive`, which a notebook's inline backend switches on when the first figure
    is made, and later figures would no longer be shown."""
    saved = {key: plt.rcParams[key] for key in RUN_THEME}
    plt.rcParams.update(RUN_THEME)
    try:
        yield
    finally:
        plt.rcParams.update(saved)


def band_line(ax, band: tuple, colour, **line) -> None:
    """The mean over replicates by year as a line, and the band from the 2.5th to the 97.5th
    percentile of the replicate values (seaborn's `errorbar=("pi", 95)`); `band` is one of
    `year_bands`."""
    years, mean, low, high = band
    ax.plot(years, mean, color=colour, **line)
    if np.any(np.asarray(high) > np.asarray(low)):  # one replicate: a band of no width fills no pixel
        ax.add_collection(PolyCollection(band_polygons(years, low, high), color=colour, alpha=0.2, linewidth=0))
    ax.set_xlabel("year")
    ax.set_ylabel("value")


def band_polygons(x, low, high) -> list:
    """The region between `low` and `high` as one polygon per run of finite values, the region
    `fill_between` fills; built here because `fill_between`'s collection cost about 4 ms a band
    (a fifth of a run figure's time before drawing)."""
    x, low, high = (np.asarray(v, dtype=float) for v in (x, low, high))
    finite = np.isfinite(x) & np.isfinite(low) & np.isfinite(high)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], finite.astype(np.int8), [0]))))
    return [np.concatenate((np.column_stack((x[a:b], low[a:b])), np.column_stack((x[a:b], high[a:b]))[::-1]))
            for a, b in zip(edges[::2], edges[1::2], strict=True)]


TERM_END_COLOUR = "#8e44ad"


def mark_term_ends(ax, term_ends: list[int] | None, label: bool = True) -> None:
    """Dotted vertical lines at the years the first year's rotators reach the end of their terms
    (`sim.present.report.first_term_ends`): where CVs can rise again as rotators go home."""
    for k, year in enumerate(term_ends or []):
        ax.axvline(year, color=TERM_END_COLOUR, linestyle=":", linewidth=1.2, zorder=1, gid="term_end",
                   label="terms of year-1 rotators end" if label and k == 0 else "_nolegend_")


def cv_figure(bands: dict, title: str, term_ends: list[int] | None = None) -> plt.Figure:
    """`sim.present.plots.cv_trajectories` from its bands (`CV_PAIRS`) and the scenario title."""
    with run_theme():
        return _cv_figure(bands, title, term_ends)


def _cv_figure(bands: dict, title: str, term_ends: list[int] | None) -> plt.Figure:
    lines = [(f"cv_{key}", label) for key, label in LEGEND_LABELS.items()]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, level in zip(axes, HIGH_QUALITY_CV, strict=True):
        for colour, (metric, label) in zip(DEEP, lines, strict=False):
            band_line(ax, bands[(metric, level)], colour, label=label if level == "primary" else "_nolegend_")
        ax.axhline(HIGH_QUALITY_CV[level], color="black", linestyle="--", linewidth=1)
        ax.text(0.0, HIGH_QUALITY_CV[level], f" limit {HIGH_QUALITY_CV[level]:.2f}", va="bottom", fontsize=8)
        mark_term_ends(ax, term_ends, label=level == "primary")
        ax.set_title(f"{level} schools", **TITLE_AT_TOP)
        ax.set_ylabel("between-school CV (student-weighted)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    # one legend under both panels, so that it covers no line
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False, fontsize=9)
    fig.suptitle(f"Teacher indicators across schools: {title}")
    lay_out(fig, spines=False, rect=(0, 0.07, 1, 1))
    return fig


def activity_figure(bands: dict, term_ends: list[int] | None = None) -> plt.Figure:
    """`sim.present.plots.rotation_activity` from its bands (`ACTIVITY_PAIRS`)."""
    with run_theme():
        return _activity_figure(bands, term_ends)


def _activity_figure(bands: dict, term_ends: list[int] | None) -> plt.Figure:
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.0))
    band_line(a, bands[("rotations", "all")], DEEP[0], label="rotations started")
    if len(bands[("returns", "all")][0]):
        band_line(a, bands[("returns", "all")], DEEP[1], label="returns home at term end", linestyle="--")
    mark_term_ends(a, term_ends)
    mark_term_ends(b, term_ends, label=False)
    a.set_ylabel("teachers")
    a.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    a.legend(fontsize=8)
    a.set_title("rotations and returns per year", **TITLE_AT_TOP)
    for ax in (a, b):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    band_line(b, bands[("coverage_eligible", "all")], DEEP[0])
    b.set_ylim(0, 1.05)
    b.set_ylabel("share of eligible cohort rotated")
    b.set_title("cumulative coverage", **TITLE_AT_TOP)
    lay_out(fig, spines=False)
    return fig


def write_run_figures(data: dict, folder: Path) -> list[Path]:
    """The two run figures (`RUN_FIGURES`) as PNG files in `folder`, from
    `sim.present.bands.run_figure_data`."""
    return [write_run_figure(data, folder, name) for name in RUN_FIGURES]


def write_run_figure(data: dict, folder: Path, name: str) -> Path:
    """One run figure as `folder/<name>.png`; the figure process draws each in its own process.
    The garbage collector is paused while it is drawn: the thousands of artists a figure makes
    set off collections that each walked every object of the imported libraries (0.1 s of a
    Dongcheng run's 0.6 s of figures); what it leaves is one closed figure."""
    from sim.collector import collector_paused

    draw = {"cv_trajectories": lambda: cv_figure(data["cv"], data["title"], data["term_ends"]),
            "rotation_activity": lambda: activity_figure(data["activity"], data["term_ends"])}[name]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    with collector_paused():
        path.write_bytes(png_bytes(draw()))
    return path


def lay_out(fig, spines: bool = True, **tight) -> None:
    """`fig.tight_layout(**tight)`, done once. `Figure.tight_layout` leaves a placeholder layout
    engine on the figure, and `savefig` then draws the whole figure an extra time before drawing
    it for the file (about a fifth of a run figure's time); the engine applied directly sets the
    same subplot parameters and leaves none. `spines=False` leaves the spines out of the layout,
    for figures whose spines lie on the axes' edges with no tick marks (RUN_THEME): each spine's
    extent placed its axis's ticks again, a sixth of a run figure's time, for a box the axes'
    own already gives."""
    if not spines:
        for ax in fig.axes:
            for spine in ax.spines.values():
                spine.set_in_layout(False)
    TightLayoutEngine(**tight).execute(fig)


def png_bytes(fig, dpi: int = 110, **options) -> bytes:
    """A figure as PNG bytes, then closed. No "Software" tag, so the same figure gives the same
    bytes on any matplotlib version (result files are compared by checksum)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None}, **options)
    plt.close(fig)
    return buf.getvalue()
