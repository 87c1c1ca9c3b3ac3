"""`teachersim report` of a calibration folder: the fit table with the source's denominators and
the replicate count, held-out targets apart, an ambiguous denominator under each reading, the
whole paths, the figures embedded; an unfinished folder is one line, exit 2."""

from __future__ import annotations

import json

import pandas as pd
from test_calibrate import ATTR, PART, SHARE, target, write_calibration

from sim.cli import main
from sim.experiments.calibrate import calibrate
from sim.experiments.executors import Serial

COVERAGE = {"statistic": {"metric": "coverage_staff", "span": [1, 3], "aggregate": "max"}, "published": 0.9,
            "uncertainty": {"at_least": 0.9}, "denominator": "all cadres and teachers in post", "source": "DC-2021-08",
            "alternatives": {"eligible": {"statistic": {"metric": "coverage_eligible", "year": 3},
                                          "denominator": "the cohort eligible in year 1"}}}


def test_report_of_a_calibration(tmp_path, capsys):
    path = write_calibration(tmp_path, {"part": target(PART, 0.5, 0.03), "attr": target(ATTR, 0.05, 0.01),
                                        "coverage": COVERAGE}, hold_out=["coverage"], trials=2, batch=2,
                             startup_trials=2, years=3, parameters={SHARE: {"values": [0.3, 0.5]}})
    out = tmp_path / "out"
    calibrate(path, out, executor=Serial())
    assert main(["report", str(out)]) == 0
    md = (out / "report.md").read_text()
    page = (out / "report.html").read_text()
    fit = pd.read_csv(out / "fit.csv").set_index(["target", "reading"])
    fitted, held = md.split("## Fitted targets")[1].split("## Held-out targets")
    assert "`part`" in fitted and "`coverage`" not in fitted and "`coverage`" in held.split("## ")[0]
    assert "model mean [95% t-interval over 2 replicates]" in fitted  # the file's replicates, stated
    assert "all cadres and teachers in post" in held and "the cohort eligible in year 1" in held
    published, eligible = fit.loc[("coverage", "published")], fit.loc[("coverage", "eligible")]
    row = next(x for x in held.splitlines() if x.startswith("| `coverage` | as published"))
    assert row.endswith("| yes |" if published.met else "| **no** |")
    assert "`coverage` has an ambiguous denominator" in held
    verdict = ("the model fits only under eligible" if eligible.met and not published.met else
               "the model fits the source's own reading" if published.met else "the model fits no reading")
    assert verdict in held
    paths = md.split("## Whole paths at the best fit")[1].split("## ")[0]
    assert "| coverage_staff:all |" in paths and "year 3" in paths  # the whole path the span target is read from
    assert page.count("data:image/png;base64,") == 2  # calibration.png and paths.png (no posterior for TPE)
    assert "figures/paths.png" in md
    # the Python API reports a calibration folder as the command does (it gave the run report's error)
    import sim

    assert sim.write_report(out, tmp_path / "api.html").read_text() == page
    assert (tmp_path / "api.md").is_file()
    # the report's files are the tool's: the same calibration still resumes into the folder
    assert main(["calibrate", str(path), "--out", str(out), "--serial", "--quiet"]) == 0


def test_report_of_an_unfinished_calibration_is_one_line(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"kind": "calibration", "status": "running", "files": {}}))
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "has not finished" in err and str(out) in err, err
    assert not (out / "report.html").exists()


def test_report_of_a_pareto_calibration_names_its_method_and_shows_the_set(tmp_path):
    """The method is in the manifest's calibration spec: a Pareto run's report must not call it
    TPE nor leave out its Pareto set."""
    conflicting = {"low": target(PART, 0.3, 0.02), "high": target(PART, 0.7, 0.02)}
    path = write_calibration(tmp_path, conflicting, method="pareto", trials=4, batch=2, startup_trials=2, years=2,
                             parameters={SHARE: {"low": 0.05, "high": 0.9}})
    out = tmp_path / "out"
    calibrate(path, out, executor=Serial())
    assert main(["report", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "## Pareto set" in md
    assert "Optuna TPE (one summed loss)" not in md
