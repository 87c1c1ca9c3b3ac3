"""A result folder as a user gets it: the data that `sim.storage.store` writes plus what this
layer makes for reading it (figures, the summary, a roster run's map). Storage never imports
figures; this module hands them over."""

from __future__ import annotations

from pathlib import Path

from sim.storage.store import write_comparison_folder, write_run_folder


def write_run(result, out: str | Path, figures: bool = True, force: bool = False, figure_process=None) -> Path:
    """Write a RunResult to `out` with its figures (unless `figures` is False), summary.md and,
    for a roster run, graph.json; return the folder (`write_run_folder` says when it is replaced).
    `figure_process` (`sim.present.figure_process`, the command line's) draws the figures while
    this process writes the rest; without it they are drawn here."""
    from sim.present.report import summary_markdown

    def extra(tmp: Path) -> list[Path]:
        listed = []
        if figures and figure_process is not None:
            from sim.present.bands import RUN_FIGURES, run_figure_data

            data = run_figure_data(result.metrics, result.scenario)
            figure_process.submit([("sim.present.run_figures", "write_run_figure", (data, tmp / "figures", name))
                                   for name in RUN_FIGURES])
        elif figures:
            from sim.present.plots import save_run_figures
            listed += save_run_figures(result.metrics, tmp / "figures", result.scenario)
        try:
            if result.scenario.world.preset == "roster":  # the report module only for a run with a map to keep
                from sim.present.html_report import GRAPH_FILE, graph_json

                graph = graph_json(result)  # a roster run's map for the report, while its roster files are at hand
                (tmp / GRAPH_FILE).write_bytes(graph)
                listed.append(tmp / GRAPH_FILE)
            (tmp / "summary.md").write_text(summary_markdown(result), encoding="utf-8")  # not in the manifest
            if figures and figure_process is not None:
                listed += figure_process.result()
        finally:
            if figure_process is not None:
                figure_process.stop()  # before the build folder is removed on a failure: no PNG written after
        return listed

    return write_run_folder(result, out, extra, force)


def write_comparison(comparison, out: str | Path, figures: bool = True, force: bool = False,
                     figure_process=None) -> Path:
    """Write a Comparison to `out` with its two figures (unless `figures` is False), drawn by
    `figure_process` (the command line's, which imported seaborn while the runs ran) or here."""
    pngs = {}
    if figures:
        from sim.present.report import term_ends_by_scenario

        ends = term_ends_by_scenario(comparison.scenarios, int(comparison.trajectories["year"].max()))
        drawn = (comparison.trajectories, comparison.baseline, ends)
        if figure_process is None:
            from sim.present.plots import comparison_pngs

            pngs = comparison_pngs(*drawn)
        else:
            try:
                figure_process.submit([("sim.present.plots", "comparison_pngs", drawn)])
                pngs = figure_process.result()[0]
            finally:
                figure_process.stop()
    return write_comparison_folder(comparison, out, pngs, force)
