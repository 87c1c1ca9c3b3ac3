"""teachersim calibrate: parameters recovered from targets the model itself made, a target it cannot
reach reported as not met, the same trials on every executor, resumed after a kill, bad files refused."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO

from sim.experiments.calibrate import CalibrationError, calibrate, load_calibration
from sim.experiments.executors import Processes, Serial

BASE = REPO / "tests" / "data" / "exchange.yaml"
SMALL = ["world.schools_per_district=10", "world.teachers_per_school=20",
         "policy.programs.0.quota={share_of_eligible: 0.3}"]
SHARE, ATTRITION = "policy.programs.0.quota.share_of_eligible", "careers.attrition_base"
TRUE = {SHARE: 0.45, ATTRITION: 0.04}  # the known values the recovery test must find
TOLERANCE = {SHARE: 0.06, ATTRITION: 0.015}  # stated: about a tenth of each range


def write_calibration(folder, targets_: dict, **spec):
    (folder / "targets.yaml").write_text(yaml.safe_dump({"name": "t", "targets": targets_}), encoding="utf-8")
    body = {"name": "c", "base": str(BASE), "set": SMALL, "targets": "targets.yaml",
            "parameters": {SHARE: {"low": 0.05, "high": 0.9}, ATTRITION: {"low": 0.0, "high": 0.1}},
            "trials": 8, "batch": 4, "startup_trials": 4, "replicates": 2, "seed": 5, **spec}
    path = folder / "calibration.yaml"
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


PART = {"metric": "participation", "year": 1}
ATTR = {"metric": "attrition_rate", "span": [1, 2]}
NEVER = {"statistic": {"metric": "coverage_staff", "year": 1}, "published": 0.95,
         "uncertainty": {"at_least": 0.95}, "denominator": "all staff in post", "source": "DC-2021-08"}


def target(stat, value, se):
    return {"statistic": stat, "published": float(value), "uncertainty": {"se": se}, "denominator": "d",
            "source": "MOE-2014"}


def model_values(folder) -> dict:
    """The statistics' means at the known values, on the calibration's own replicate seeds."""
    from sim.config.designs import override
    from sim.config.scenario import load_scenario
    from sim.config.targets import Statistic
    from sim.experiments.calibrate import EvalTask, evaluate

    cal = load_calibration(write_calibration(folder, {"p": target(PART, 0.5, 0.01)}))
    scenario = load_scenario(BASE, [*SMALL, "run.years=2", *(override(k, v) for k, v in TRUE.items())])
    stats = (("part", Statistic(**PART).model_dump_json()), ("attr", Statistic(**ATTR).model_dump_json()))
    reps = [evaluate(EvalTask(0, r, s, scenario.model_dump(mode="json"), scenario.source_dir, stats))
            for r, s in enumerate(cal.seeds)]
    return {k: float(np.mean([r[k] for r in reps])) for k in ("part", "attr")}


def test_known_parameters_are_recovered_and_an_unreachable_target_is_not_met(tmp_path):
    made = model_values(tmp_path)
    path = write_calibration(tmp_path, {"part": target(PART, made["part"], 0.03),
                                        "attr": target(ATTR, made["attr"], 0.01), "never": NEVER},
                             hold_out=["never"], trials=32, startup_trials=8)
    summary = calibrate(path, tmp_path / "out", executor=Serial())
    best = json.loads((tmp_path / "out" / "best.json").read_text())["parameters"]
    for key, value in TRUE.items():
        assert abs(best[key] - value) <= TOLERANCE[key], (key, best[key], value)
    fit = pd.read_csv(tmp_path / "out" / "fit.csv")
    assert fit.set_index("target").loc[["part", "attr"], "met"].all()
    never = fit.set_index("target").loc["never"]
    assert never.role == "held out" and not never.met and never.model_mean < 0.95
    assert summary.fitted_met == (2, 2) and summary.held_out_met == (0, 1)


def test_a_fitted_target_the_model_cannot_reach_is_reported_as_not_met(tmp_path):
    path = write_calibration(tmp_path, {"never": NEVER}, parameters={SHARE: {"low": 0.05, "high": 0.9}})
    summary = calibrate(path, tmp_path / "out", executor=Serial())
    fit = pd.read_csv(tmp_path / "out" / "fit.csv")
    assert summary.fitted_met == (0, 1) and not fit.met.any()
    assert "| never | published |" in (tmp_path / "out" / "fit.md").read_text() and "**no**" in \
        (tmp_path / "out" / "fit.md").read_text()


class KilledAfter:
    """A serial executor that is 'killed' (KeyboardInterrupt) after `n` evaluations."""

    def __init__(self, n: int):
        self.n = n

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def describe(self) -> str:
        return "serial, killed"

    def map_unordered(self, fn, items):
        for item in items:
            if self.n == 0:
                raise KeyboardInterrupt
            self.n -= 1
            yield item, fn(item), None


def test_the_same_trials_on_every_executor_and_after_a_kill(tmp_path):
    from sim.experiments.executors import Dask

    path = write_calibration(tmp_path, {"part": target(PART, 0.5, 0.03), "attr": target(ATTR, 0.05, 0.01)},
                             trials=6, batch=3, startup_trials=3)
    calibrate(path, tmp_path / "serial", executor=Serial())
    reference = (tmp_path / "serial" / "trials.parquet").read_bytes()
    with pytest.raises(KeyboardInterrupt):  # killed in the second batch: the first is told, the second running
        calibrate(path, tmp_path / "killed", executor=KilledAfter(3 * 2 + 3))
    assert not (tmp_path / "killed" / "trials.parquet").exists()
    assert json.loads((tmp_path / "killed" / "manifest.json").read_text())["status"] == "running"
    summary = calibrate(path, tmp_path / "killed", executor=Serial())
    assert summary.ran == 3  # only the interrupted batch again
    assert (tmp_path / "killed" / "trials.parquet").read_bytes() == reference
    calibrate(path, tmp_path / "dask", executor=Dask(workers=2))
    assert (tmp_path / "dask" / "trials.parquet").read_bytes() == reference
    calibrate(path, tmp_path / "procs", executor=Processes(workers=2))  # the command line's --workers
    assert (tmp_path / "procs" / "trials.parquet").read_bytes() == reference
    assert (tmp_path / "dask" / "fit.csv").read_bytes() == (tmp_path / "serial" / "fit.csv").read_bytes()
    trials = pd.read_parquet(tmp_path / "serial" / "trials.parquet")
    assert len(trials) == 6 and (trials.state == "COMPLETE").all() and trials[SHARE].nunique() == 6
    manifest = json.loads((tmp_path / "serial" / "manifest.json").read_text())
    assert manifest["kind"] == "calibration" and manifest["status"] == "complete"
    assert {"trials.parquet", "best.json", "fit.csv", "fit.md", "figures/calibration.png"} <= set(manifest["files"])


def test_another_calibration_in_the_folder_is_refused_without_force(tmp_path):
    path = write_calibration(tmp_path, {"part": target(PART, 0.5, 0.03)}, trials=4,
                             parameters={SHARE: {"low": 0.05, "high": 0.9}})
    calibrate(path, tmp_path / "out", executor=Serial())
    other = write_calibration(tmp_path, {"part": target(PART, 0.2, 0.03)}, trials=4,
                              parameters={SHARE: {"low": 0.05, "high": 0.9}})
    with pytest.raises(CalibrationError, match="holds a different calibration"):
        calibrate(other, tmp_path / "out", executor=Serial())
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("a user's file")
    with pytest.raises(CalibrationError, match="did not write"):
        calibrate(other, tmp_path / "mine", executor=Serial())
    assert (tmp_path / "mine" / "notes.txt").read_text() == "a user's file"
    calibrate(other, tmp_path / "out", executor=Serial(), force=True)
    assert json.loads((tmp_path / "out" / "best.json").read_text())["loss"] >= 0


@pytest.mark.parametrize("change, words", [
    ({"parameters": {"careers.nope": {"low": 0, "high": 1}}}, "parameters.careers.nope: careers has no key 'nope'"),
    ({"hold_out": ["nothing"]}, "hold_out: 'nothing' is not a target"),
    ({"hold_out": ["part", "attr"]}, "every target is held out"),
    ({"targets": "missing.yaml"}, "targets: file 'missing.yaml' not found"),
    ({"parameters": {ATTRITION: {"low": 0.0, "high": 3.0}}},
     f"parameters.{ATTRITION}: value 3.0 makes the base invalid"),
    ({"years": 1}, "years: 1 is shorter than the year 2"),
    ({"replicates": 1}, "replicates"),
])
def test_a_bad_calibration_file_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, change, words):
    from sim.cli import main

    path = write_calibration(tmp_path, {"part": target(PART, 0.5, 0.03), "attr": target(ATTR, 0.05, 0.01)}, **change)
    out = tmp_path / "out"
    assert main(["calibrate", str(path), "--out", str(out), "--serial", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(path) in err and words in err, err
    assert not out.exists()


def test_the_shipped_calibrations_load_and_hold_out_what_the_docs_say():
    dc = load_calibration(REPO / "calibration" / "dongcheng_fit.yaml")
    assert dc.spec.hold_out == ["all_staff_within_three_years"] and dc.scenario.run.years == 3
    assert set(dc.fitted) == {"at_least_2000_year1", "selected_3236_in_one_year"}
    bj = load_calibration(REPO / "calibration" / "beijing_fit.yaml")
    assert bj.spec.hold_out == ["over_90pc_adapt"] and bj.scenario.run.years == 1


def test_the_command_writes_the_folder_and_prints_the_summary(tmp_path, capsys):
    from sim.cli import main

    path = write_calibration(tmp_path, {"part": target(PART, 0.5, 0.03)}, trials=2, batch=2, startup_trials=2,
                             parameters={SHARE: {"values": [0.2, 0.5]}})
    assert main(["calibrate", str(path), "--out", str(tmp_path / "out"), "--serial", "--quiet"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("calibration c: 2 trials (this session ran 2)") and "fitted targets met" in line, line
    best = json.loads((tmp_path / "out" / "best.json").read_text())
    assert best["parameters"][SHARE] in (0.2, 0.5) and best["set"] == [f"{SHARE}={best['parameters'][SHARE]}"]


def test_the_documented_dongcheng_fit_reproduces_3236_and_not_all_staff_in_three_years():
    """docs/calibration.md's Dongcheng fit, on the full world at its best parameters: a model change
    that moves these figures makes the documented fit stale and fails here."""
    from sim.config.designs import checked_scenario
    from sim.experiments.calibrate import EvalTask, evaluate

    cal = load_calibration(REPO / "calibration" / "dongcheng_fit.yaml")
    best = {"policy.programs.district_exchange.quota.min_count": 3420,  # trial 3 of the rerun at 396d9ee
            "careers.tenure.history_rate": 0.2791670587219451, "careers.attrition_base": 0.007486262036926043,
            "careers.drift_rate": 0.006970343976123256}
    scenario = checked_scenario(cal.base_path, cal.point_overrides(best))
    stats = tuple((k, s.model_dump_json()) for k, s in cal.statistics().items())
    reps = [evaluate(EvalTask(0, r, s, scenario.model_dump(mode="json"), scenario.source_dir, stats))
            for r, s in enumerate(cal.seeds[:2])]
    mean = {k: float(np.mean([r[k] for r in reps])) for k, _ in stats}
    targets = cal.targets.targets
    assert targets["selected_3236_in_one_year"].met(mean["selected_3236_in_one_year/published"])
    assert targets["at_least_2000_year1"].met(mean["at_least_2000_year1/published"])
    staff = targets["all_staff_within_three_years"]
    assert not staff.met(mean["all_staff_within_three_years/published"])  # all staff: not reproduced
    assert staff.met(mean["all_staff_within_three_years/eligible_cohort"])  # the eligible cohort: reproduced


def test_force_never_removes_a_file_outside_the_folder_a_crafted_manifest_names(tmp_path):
    import json

    from sim.experiments.calibrate import CalibrationError, _prepare

    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "thesis.docx"
    outside.write_text("three years of work")
    (out / "manifest.json").write_text(json.dumps({"kind": "calibration", "fingerprint": "another",
                                                   "files": {"../thesis.docx": "x"}}))

    class Cal:
        @staticmethod
        def fingerprint():
            return "this one"

    with pytest.raises(CalibrationError, match="not a path inside the folder"):
        _prepare(Cal(), out, force=True)
    assert outside.read_text() == "three years of work"


ABC = {"method": "abc", "abc": {"population": 6, "generations": 2, "seed": 3}}


def test_abc_gives_a_weighted_posterior_the_same_on_every_executor_and_after_a_kill(tmp_path):
    """ABC-SMC (pyabc): the posterior sample's format (docs/calibration.md), the same bytes serially,
    after a kill in the second generation and a resume, and on a local Dask cluster."""
    from sim.experiments.executors import Dask

    path = write_calibration(tmp_path, {"part": target(PART, 0.5, 0.03), "attr": target(ATTR, 0.05, 0.01)}, **ABC)
    summary = calibrate(path, tmp_path / "serial", executor=Serial())
    post = pd.read_parquet(tmp_path / "serial" / "posterior.parquet")
    assert list(post.columns[:4]) == ["particle", "weight", "distance", "generation"]
    assert set(post.columns[4:6]) == {SHARE, ATTRITION}  # in the calibration file's order
    assert len(post) == 6 and list(post.particle) == list(range(6)) and (post.generation == 1).all()
    assert abs(post.weight.sum() - 1) < 1e-12 and (post.weight > 0).all()
    assert post[SHARE].between(0.05, 0.9).all() and post[ATTRITION].between(0.0, 0.1).all()
    generations = pd.read_csv(tmp_path / "serial" / "generations.csv")
    assert list(generations.t) == [0, 1] and generations.epsilon.iloc[1] < generations.epsilon.iloc[0]
    assert (post.distance <= generations.epsilon.iloc[1]).all()  # generation 1 accepted only under its epsilon
    assert summary.method == "abc" and summary.ran == 2
    manifest = json.loads((tmp_path / "serial" / "manifest.json").read_text())
    assert manifest["method"] == "abc" and manifest["posterior"]["particles"] == 6
    assert {"posterior.parquet", "figures/posterior.png", "predictive.csv", "abc.db"} <= set(manifest["files"])
    reference = (tmp_path / "serial" / "posterior.parquet").read_bytes()
    from sim.cli import main

    assert main(["report", str(tmp_path / "serial")]) == 0
    md = (tmp_path / "serial" / "report.md").read_text()
    assert "## Posterior" in md and "Posterior predictive check" in md and "figures/posterior.png" in md
    assert (tmp_path / "serial" / "report.html").read_text().count("data:image/png;base64,") == 3

    with pytest.raises(KeyboardInterrupt):  # generation 0 is 6 particles (the prior sample); killed in generation 1
        calibrate(path, tmp_path / "killed", executor=KilledAfter(6 + 2))  # one item per particle
    assert json.loads((tmp_path / "killed" / "manifest.json").read_text())["status"] == "running"
    resumed = calibrate(path, tmp_path / "killed", executor=Serial())
    assert resumed.ran == 1  # only the interrupted generation again
    assert (tmp_path / "killed" / "posterior.parquet").read_bytes() == reference
    calibrate(path, tmp_path / "dask", executor=Dask(workers=2))
    assert (tmp_path / "dask" / "posterior.parquet").read_bytes() == reference
    calibrate(path, tmp_path / "procs", executor=Processes(workers=2))  # --workers: pyabc's closures go by cloudpickle
    assert (tmp_path / "procs" / "posterior.parquet").read_bytes() == reference


@pytest.mark.parametrize("change, words", [
    ({"abc": {"epsilons": [3.0, 4.0]}}, "abc.epsilons: Value error, epsilons must decrease"),
    ({"abc": {"priors": {"careers.nope": {"normal": [0, 1]}}}}, "'careers.nope' is not one of the parameters"),
    ({"method": "grid"}, "method"),
])
def test_bad_abc_options_are_one_line_exit_2(tmp_path, capsys, change, words):
    from sim.cli import main

    path = write_calibration(tmp_path, {"part": target(PART, 0.5, 0.03)}, **{**ABC, **change})
    assert main(["calibrate", str(path), "--out", str(tmp_path / "out"), "--serial", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(path) in err and words.split(": Value error, ")[-1] in err, err
    assert not (tmp_path / "out").exists()


def test_pareto_gives_the_non_dominated_fits_of_conflicting_targets(tmp_path):
    """method pareto: one loss per fitted target (multi-objective TPE). Two published figures of the
    same statistic that cannot both hold: the Pareto set is exactly the trials no other beats on both
    losses (computed here from trials.parquet), and the best fit is the one of it with the least sum."""
    conflicting = {"low": target(PART, 0.3, 0.02), "high": target(PART, 0.7, 0.02)}
    path = write_calibration(tmp_path, conflicting, method="pareto", trials=10, batch=5, startup_trials=5,
                             parameters={SHARE: {"low": 0.05, "high": 0.9}})
    calibrate(path, tmp_path / "out", executor=Serial())
    trials = pd.read_parquet(tmp_path / "out" / "trials.parquet")
    done = trials[trials.state == "COMPLETE"]
    losses = done[["loss:low", "loss:high"]].to_numpy()
    dominated = [bool(((losses <= x).all(axis=1) & (losses < x).any(axis=1)).any()) for x in losses]
    expected = sorted(done.trial[[not d for d in dominated]])
    front = pd.read_csv(tmp_path / "out" / "pareto.csv")
    assert sorted(front.trial) == expected and len(expected) >= 2
    assert not (front["met:low"] & front["met:high"]).any()  # no fit meets both
    best = json.loads((tmp_path / "out" / "best.json").read_text())
    assert best["trial"] == int(front.sort_values(["loss", "trial"]).trial.iloc[0])
    assert best["pareto_trials"] == sorted(expected)
    assert "## Pareto set" in (tmp_path / "out" / "fit.md").read_text()


def test_a_run_warning_is_not_printed_during_a_calibration(tmp_path, capsys):
    """A quota capped at the eligible pool (a RunWarning) is what a fit explores: not one line per run."""
    path = write_calibration(tmp_path, {"part": target(PART, 0.5, 0.03)}, trials=2, batch=2, startup_trials=2,
                             set=[*SMALL[:2], "policy.programs.0.quota={min_count: 5000}"],
                             parameters={ATTRITION: {"low": 0.0, "high": 0.1}})
    from sim.cli import main

    assert main(["calibrate", str(path), "--out", str(tmp_path / "out"), "--serial", "--quiet"]) == 0
    assert "the quota asks" not in capsys.readouterr().err


def test_the_fit_report_gives_every_year_of_the_headline_cvs_at_the_best_fit(tmp_path):
    """Recomputed here: the best trial's scenario run again on the calibration's seeds."""
    from sim.config.designs import checked_scenario
    from sim.experiments.run import simulate

    path = write_calibration(tmp_path, {"part": target(PART, 0.5, 0.03)}, trials=4, years=6,
                             parameters={SHARE: {"low": 0.05, "high": 0.9}})
    calibrate(path, tmp_path / "out", executor=Serial())
    cal = load_calibration(path)
    best = json.loads((tmp_path / "out" / "best.json").read_text())
    scenario = checked_scenario(cal.base_path, cal.point_overrides(best["parameters"]))
    runs = [pd.DataFrame(simulate(scenario, s, scenario.run.years).metric_rows, columns=["year", "metric", "subgroup",
                                                                                        "value"]) for s in cal.seeds]
    m = pd.concat(runs)
    want = m[(m.metric == "cv_backbone") & (m.subgroup == "primary")].groupby("year")["value"].mean()
    assert list(want.index) == list(range(7))
    text = (tmp_path / "out" / "fit.md").read_text()
    part = text[text.index("## Headline CVs at the best fit, every year"):]
    assert "| metric | group | mean, years 1-6 | mean, last 5 years (years 2-6) | 0 | 1 | 2 | 3 | 4 | 5 | 6 |" in part
    line = next(x for x in part.splitlines() if x.startswith("| `cv_backbone` | primary |"))
    run, recent = want[want.index >= 1].mean(), want[want.index >= 2].mean()
    cells = " | ".join(f"{v:.3f}" for v in want)
    assert line == f"| `cv_backbone` | primary | {run:.3f} | {recent:.3f} | {cells} |"
