"""One entry point for the report of any result folder: a run, comparison or sweep gets the HTML
report; a calibration or a policy search gets its own report, with report.md beside the HTML.
`teachersim report` and `sim.write_report` both call this, so the two cannot disagree."""

from __future__ import annotations

from pathlib import Path


def write_report(folder: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of `folder` to `out` (default `<folder>/report.html`); the HTML file's path.
    Raises ReportError (one line) for a folder it cannot report on."""
    from sim.present import calibration_report, html_report, optimize_report

    folder = Path(folder)
    if calibration_report.is_calibration(folder):
        return calibration_report.write(folder, out or folder / html_report.REPORT_NAME)[0]
    if optimize_report.is_search_folder(folder):
        return optimize_report.write_report(folder, out)
    return html_report.write_report(folder, out)
