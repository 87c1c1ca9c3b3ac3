"""`teachersim optimize`: optimisation files, the NSGA-II search, its folder and its answers.

A tiny world (12 schools a district, 15 teachers each, 3 years) and a few generations keep the
whole file fast. The trade-off is planted: dormitory beds shorten rotators' commutes and cost
money, so the front must move in both.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO

import sim
from sim.experiments.costs import Costs, run_cost
from sim.experiments.executors import Serial
from sim.experiments.optimize import OptimizeError, load_optimisation, non_dominated, optimize

BASE = REPO / "tests" / "data" / "sweep_base.yaml"  # one program, 'district_exchange'
TINY = ["world.schools_per_district=12", "world.teachers_per_school=15",
        "policy.programs.district_exchange.quota.min_count=0"]
SHARE = "policy.programs.district_exchange.quota.share_of_eligible"
BEDS = "policy.dormitories_per_district"
PRICES = {"allowance": {"value": 20000, "unit": "per teacher-year on rotation at allowance 1.0", "assumption": True,
                        "explored": [10000, 40000]},
          "dormitory_bed": {"value": 6000, "unit": "per bed per year", "source": "a test price"},
          "double_teacher_classroom": {"value": 80000, "unit": "per classroom per year", "assumption": True,
                                       "explored": [40000, 120000]}}
OUTPUTS = ("candidates.parquet", "replicates.parquet", "front.parquet", "convergence.parquet")


def write_file(folder, **change):
    spec = {"name": "tiny", "base": str(BASE), "set": TINY, "years": 3, "replicates": 2, "seed": 5,
            "levers": {SHARE: {"low": 0.0, "high": 0.6}, BEDS: {"low": 0, "high": 30, "integer": True}},
            "objectives": [{"metric": "mean_commute_rotators", "years": [1, 3]}, {"metric": "cost"}],
            "constraints": [{"metric": "rotations", "at_least": 10, "year": 1, "share": 1.0}],
            "costs": PRICES, "search": {"generations": 3, "population": 8, "seed": 1}} | change
    path = folder / "opt.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted serial search, shared by the tests that read its folder."""
    folder = tmp_path_factory.mktemp("optimize")
    path = write_file(folder)
    summary = optimize(path, folder / "serial", executor=Serial())
    return path, folder / "serial", summary


def test_the_trade_off_gives_a_front_where_both_objectives_move(reference):
    _, out, _ = reference
    front = pd.read_parquet(out / "front.parquet").sort_values("objective_1")
    assert len(front) >= 2
    commute, cost = front["objective_0"].to_numpy(), front["objective_1"].to_numpy()
    assert np.ptp(commute) > 0 and np.ptp(cost) > 0
    assert np.all(np.diff(commute) <= 0)  # paying more buys shorter commutes along the front
    assert (front[BEDS] > 0).any() and (front[BEDS] == front[BEDS].min()).any()


def test_the_front_is_non_dominated_and_respects_the_constraints(reference):
    _, out, _ = reference
    cands = pd.read_parquet(out / "candidates.parquet")
    reps = pd.read_parquet(out / "replicates.parquet")
    met = reps.assign(ok=reps["constraint_0"] >= 10).groupby("candidate")["ok"].mean()
    assert (cands.set_index("candidate")["feasible"] == (met.reindex(cands["candidate"]) >= 1.0)).all()
    assert (~cands["feasible"]).any() and cands["feasible"].any()  # the constraint binds
    front = pd.read_parquet(out / "front.parquet")
    assert front["feasible"].all()
    feasible = cands[cands["feasible"]]
    F = feasible[["objective_0", "objective_1"]].to_numpy()
    for _, row in front.iterrows():  # no feasible candidate dominates a front member (checked here)
        f = row[["objective_0", "objective_1"]].to_numpy(float)
        assert not np.any(np.all(F <= f, axis=1) & np.any(F < f, axis=1))
    assert set(front["candidate"]) == set(feasible["candidate"][non_dominated(F)])
    assert (front["objective_0_low"] <= front["objective_0"]).all()
    assert (front["objective_0"] <= front["objective_0_high"]).all()


def test_the_cheapest_feasible_candidate_is_feasible_and_cheapest(reference):
    _, out, summary = reference
    cands = pd.read_parquet(out / "candidates.parquet")
    manifest = json.loads((out / "manifest.json").read_text())
    best = cands.set_index("candidate").loc[manifest["cheapest"]]
    assert best["feasible"]
    assert best["cost"] == cands.loc[cands["feasible"], "cost"].min()
    reps = pd.read_parquet(out / "replicates.parquet")
    assert (reps.loc[reps["candidate"] == manifest["cheapest"], "constraint_0"] >= 10).all()
    assert "Cheapest candidate meeting the constraints" in summary.cheapest
    assert "Cheapest candidate meeting the constraints" in (out / "summary.md").read_text()
    assert manifest["kind"] == "optimize" and manifest["status"] == "done"
    assert {*OUTPUTS, "figures/pareto.png", "figures/convergence.png", "summary.md"} <= set(manifest["files"])
    conv = pd.read_parquet(out / "convergence.parquet")
    assert list(conv["generation"]) == [1, 2, 3] and (conv["hypervolume"] > 0).all()


def test_no_candidate_meeting_the_constraints_is_said_so(tmp_path, capsys):
    from sim.cli import main

    path = write_file(tmp_path, constraints=[{"metric": "rotations", "at_least": 10_000, "year": 1}],
                      search={"generations": 1, "population": 4, "seed": 1})
    assert main(["optimize", str(path), "--out", str(tmp_path / "out"), "--serial"]) == 0
    done = capsys.readouterr()
    assert "No evaluated candidate meets the constraints. Closest: district_exchange: share of eligible" in done.out
    assert "generation 1/1: 4 candidates evaluated, front of 0, hypervolume 0.0000" in done.err
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "No evaluated candidate meets the constraints." in summary and "Closest (share of replicates" in summary
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["cheapest"] is None


def test_serial_and_dask_give_identical_outputs(reference, tmp_path):
    from sim.experiments.executors import Dask

    path, serial, _ = reference
    optimize(path, tmp_path / "dask", executor=Dask(workers=2))
    for name in OUTPUTS:
        assert (tmp_path / "dask" / name).read_bytes() == (serial / name).read_bytes(), name


def test_serial_and_local_worker_processes_give_identical_outputs(reference, tmp_path):
    from sim.experiments.executors import Processes

    path, serial, _ = reference
    optimize(path, tmp_path / "procs", executor=Processes(workers=2))  # the command line's --workers
    for name in OUTPUTS:
        assert (tmp_path / "procs" / name).read_bytes() == (serial / name).read_bytes(), name


class KilledAfter(Serial):
    """Serial, but interrupted (as by a kill) after n candidates have been evaluated."""

    def __init__(self, n: int):
        self.n = n

    def map_unordered(self, fn, items):
        for item in items:
            if self.n == 0:
                raise KeyboardInterrupt
            self.n -= 1
            yield item, fn(item), None


def test_a_killed_search_resumes_to_identical_outputs(reference, tmp_path):
    path, serial, summary = reference
    out = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        optimize(path, out, executor=KilledAfter(11))  # in the second generation
    journal = out / "evaluations.jsonl"
    lines = journal.read_text().splitlines()
    assert len(lines) == 11 and not (out / "candidates.parquet").exists()
    journal.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])  # a kill mid-line
    resumed = optimize(path, out, executor=Serial())
    assert resumed.ran == summary.evaluated - 10
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (serial / name).read_bytes(), name
    assert optimize(path, out, executor=Serial()).ran == 0


def test_another_search_in_the_folder_is_refused(reference, tmp_path):
    path, serial, _ = reference
    other = write_file(tmp_path, seed=6)
    with pytest.raises(OptimizeError, match="holds a different optimisation"):
        optimize(other, serial, executor=Serial())


def test_cost_prices_beds_classrooms_and_allowance_by_year():
    from sim.config.scenario import load_scenario

    sc = load_scenario(BASE, [*TINY, "policy.dormitories_per_district=10", "policy.double_teacher.classrooms=2",
                              "policy.allowance=0.5"])
    metrics = pd.DataFrame({"year": [0, 1, 2, 1], "metric": ["rotating", "rotating", "rotating", "cv_backbone"],
                            "subgroup": ["all", "all", "all", "primary@A"], "value": [99.0, 4.0, 6.0, 0.3]})
    metrics = pd.concat([metrics, metrics.assign(subgroup=metrics["subgroup"].str.replace("@A", "@B"))
                         .iloc[3:]], ignore_index=True)
    cost = run_cost(sc, metrics, Costs.model_validate(PRICES), years=2)
    assert cost["allowance"] == 0.5 * 20000 * (4 + 6)  # year 0 is before the policy
    assert cost["dormitories"] == 10 * 2 * 6000 * 2  # 10 beds in each of 2 districts, 2 years
    assert cost["classrooms"] == 2 * 80000 * 2
    assert cost["total"] == cost["allowance"] + cost["dormitories"] + cost["classrooms"]


@pytest.mark.parametrize("change, words", [
    ({"levers": {"policy.programs.district_exchange.quota.nope": {"low": 0, "high": 1}}}, "has no key 'nope'"),
    ({"levers": {SHARE: {"low": 0.0, "high": 3.0}}}, f"levers.{SHARE}: value 3.0 makes the base invalid"),
    ({"levers": {}}, "levers"),
    ({"objectives": [{"metric": "no_such_metric"}]}, "objectives.0.metric: Value error, unknown metric"),
    ({"objectives": [{"metric": "cv_backbone:nowhere"}]}, "objectives.0.metric: 'nowhere' is a group of no metric"),
    ({"objectives": [{"metric": "rotations", "year": 9}]}, "objectives.0: year 9 is after the run's last year (3)"),
    ({"constraints": [{"metric": "rotations", "year": 1}]}, "give at_most or at_least"),
    ({"costs": {**PRICES, "dormitory_bed": {"value": 1, "unit": "per bed"}}},
     "costs.dormitory_bed: Value error, give a source, or say assumption: true"),
    ({"costs": {**PRICES, "allowance": {"value": 1, "unit": "per year", "assumption": True}}},
     "costs.allowance: Value error, an assumption needs the range it is explored over"),
    ({"costs": {**PRICES, "allowance": {"value": 1, "unit": "per year", "assumption": True, "explored": [2, 3]}}},
     "costs.allowance: Value error, explored: [2.0, 3.0] does not contain the value 1"),
    ({"base": "missing.yaml"}, "base: scenario file 'missing.yaml' not found"),
    ({"search": {"generations": 500, "population": 1000}}, "above the most a search may ask for"),
    ({"set": ["world.schools_per_district=-1"]}, "base:"),
])
def test_a_bad_file_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, change, words):
    from sim.cli import main

    path = write_file(tmp_path, **change)
    out = tmp_path / "out"
    assert main(["optimize", str(path), "--out", str(out), "--serial", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(path) in err and words in err, err
    assert not out.exists()


def test_not_yaml_is_one_line(tmp_path):
    path = tmp_path / "opt.yaml"
    path.write_text("- a list\n- not a mapping\n")
    with pytest.raises(OptimizeError, match="top level must be a mapping"):
        load_optimisation(path)


def test_the_shipped_example_loads():
    opt = load_optimisation(REPO / "optimize" / "dongcheng.yaml")
    assert opt.spec.constraints and any(o.metric == "cost" for o in opt.spec.objectives)


def test_a_combination_of_levers_that_makes_no_scenario_is_kept_out_of_the_answer(tmp_path):
    term = "policy.programs.district_exchange.term_years_"
    path = write_file(tmp_path, levers={f"{term}min": {"low": 1, "high": 3, "integer": True},
                                        f"{term}max": {"low": 1, "high": 3, "integer": True}},
                      objectives=[{"metric": "rotating", "year": 3}, {"metric": "cost"}], constraints=[],
                      search={"generations": 2, "population": 6, "seed": 3})
    optimize(path, tmp_path / "out", executor=Serial())
    cands = pd.read_parquet(tmp_path / "out" / "candidates.parquet")
    invalid = cands[f"{term}min"] > cands[f"{term}max"]
    assert invalid.any() and (~invalid).any()
    assert (cands["valid"] == ~invalid).all() and not cands.loc[invalid, "feasible"].any()
    assert not cands.loc[invalid, "non_dominated"].any()
    reps = pd.read_parquet(tmp_path / "out" / "replicates.parquet")
    assert set(reps["candidate"]) == set(cands.loc[~invalid, "candidate"])


@pytest.mark.parametrize("undefined", ["nan", "missing"])
def test_a_candidate_whose_metric_is_undefined_is_marked_invalid_and_the_search_goes_on(tmp_path, monkeypatch,
                                                                                         undefined):
    """A run whose objective has no finite value (NaN, e.g. a mean over no schools, or no row in
    the years asked) cannot be scored: the candidate is invalid, as a lever set that makes no
    scenario is (worst objective, infeasible, off the front), and the search finishes. Here the
    objective is made undefined for candidates asking more than 30% of the eligible."""
    import sim.experiments.run

    real = sim.experiments.run.replicate_metrics

    def spoiled(scenario, rep, seed):
        metrics = real(scenario, rep, seed)
        if scenario.policy.programs[0].quota.share_of_eligible > 0.3:
            hit = metrics["metric"] == "mean_commute_rotators"
            metrics = (metrics.assign(value=metrics["value"].where(~hit, np.nan)) if undefined == "nan"
                       else metrics[~hit])
        return metrics

    monkeypatch.setattr(sim.experiments.run, "replicate_metrics", spoiled)
    path = write_file(tmp_path, search={"generations": 2, "population": 8, "seed": 1})
    optimize(path, tmp_path / "out", executor=Serial())
    cands = pd.read_parquet(tmp_path / "out" / "candidates.parquet")
    spoilt = cands[SHARE] > 0.3
    assert spoilt.any() and (~spoilt).any()
    assert (cands["valid"] == ~spoilt).all()
    assert not cands.loc[spoilt, ["feasible", "non_dominated"]].to_numpy().any()
    journal = [json.loads(line) for line in (tmp_path / "out" / "evaluations.jsonl").read_text().splitlines()]
    errors = [e["error"] for e in journal if not e["valid"]]
    assert errors and all(e.startswith("mean_commute_rotators:all is undefined (no finite value) in world 0")
                          for e in errors)
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert f"{int(spoilt.sum())} of {len(cands)} candidates could not be scored" in summary
    assert "mean_commute_rotators:all is undefined" in summary.split("## Answer")[1].split("##")[0]


# ------------------------------------------------------------------------------ --answer


def _finished_copy(reference, tmp_path):
    import shutil

    path, serial, _ = reference
    out = tmp_path / "done"
    shutil.copytree(serial, out)
    return path, out


def test_answer_pairs_the_cheapest_policy_with_the_base_scenario_on_the_same_seeds(reference, tmp_path, capsys,
                                                                                    monkeypatch):
    from scipy import stats

    import sim.experiments.optimize as optimize_module
    from sim.cli import main
    from sim.config.scenario import load_scenario
    from sim.experiments.optimize import metric_value
    from sim.experiments.run import replicate_metrics

    path, out = _finished_copy(reference, tmp_path)
    monkeypatch.setattr(optimize_module, "_search", lambda *a: pytest.fail("a finished search was run again"))
    assert main(["optimize", str(path), "--out", str(out), "--serial", "--answer"]) == 0
    text = capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    cands = pd.read_parquet(out / "candidates.parquet").set_index("candidate")
    best = cands.loc[manifest["cheapest"]]
    assert f"share of eligible {best[SHARE]:g}; dormitories per district {best[BEDS]:g}." in text
    assert "Over 2 replicates on common seeds" in text
    # the base scenario, run here on the search's seeds: the file's base and set, no lever changed
    base = load_scenario(BASE, [*TINY, "run.years=3"])
    reps = pd.read_parquet(out / "replicates.parquet")
    mine = reps[reps["candidate"] == manifest["cheapest"]].sort_values("replicate")
    base_commute = np.array([metric_value(replicate_metrics(base, r, seed), "mean_commute_rotators:all", years=[1, 3])
                             for r, seed in enumerate(manifest["seeds"])])
    diff = mine["objective_0"].to_numpy() - base_commute
    half = stats.t.ppf(0.975, len(diff) - 1) * stats.sem(diff)
    line = next(x for x in text.splitlines() if x.startswith("- mean one-way commute"))
    assert f"base scenario {base_commute.mean():.4g}" in line
    assert f"difference {diff.mean():+.4g} [{diff.mean() - half:+.4g}, {diff.mean() + half:+.4g}]" in line
    assert "By the base scenario: rotations:all at least 10 in year 1 in at least 100% of replicates: met in" in text
    # kept in the folder: the next answer runs nothing, and the folder is still this search's
    import sim.experiments.optimize_answer as answer_module

    monkeypatch.setattr(answer_module, "evaluate", lambda task: pytest.fail("the base scenario was run again"))
    assert main(["optimize", str(path), "--out", str(out), "--serial", "--answer"]) == 0
    assert capsys.readouterr().out == text
    monkeypatch.undo()
    assert optimize(path, out, executor=Serial()).ran == 0


def test_answer_of_a_folder_without_the_search_runs_it_first(tmp_path, capsys):
    from sim.cli import main

    path = write_file(tmp_path, search={"generations": 1, "population": 4, "seed": 1})
    assert main(["optimize", str(path), "--out", str(tmp_path / "out"), "--serial", "--quiet", "--answer"]) == 0
    done = capsys.readouterr()
    assert "optimize: 4 candidates evaluated" in done.err
    assert done.out.startswith("tiny: ")
    assert (tmp_path / "out" / "base.json").is_file()


def test_answer_with_no_candidate_meeting_the_constraints_names_the_closest(tmp_path, capsys):
    from sim.cli import main

    path = write_file(tmp_path, constraints=[{"metric": "rotations", "at_least": 10_000, "year": 1}],
                      search={"generations": 1, "population": 4, "seed": 1})
    assert main(["optimize", str(path), "--out", str(tmp_path / "out"), "--serial", "--quiet", "--answer"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("tiny: no evaluated candidate meets the constraints. Closest: district_exchange:")
    assert not (tmp_path / "out" / "base.json").exists()


# ------------------------------------------------------------------------------ teachersim report


def test_report_of_a_search_folder_in_html_and_markdown(reference, tmp_path, capsys):
    import re

    from test_report import images_in_browser

    from sim.cli import main

    _, out = _finished_copy(reference, tmp_path)
    assert main(["report", str(out)]) == 0
    page, md = (out / "report.html").read_text(), (out / "report.md").read_text()
    cands = pd.read_parquet(out / "candidates.parquet")
    front = pd.read_parquet(out / "front.parquet")
    for text in (page, md):
        assert "the cheapest policy meeting the constraints is: district_exchange: share of eligible" in text
        assert "difference = policy - base scenario, paired by seed" in text
        assert f"{int(cands['feasible'].sum())} of {len(cands)}" in text  # candidates meeting the constraint
        assert f"{len(front)} non-dominated candidates among those meeting the constraints" in text
    rows = [x for x in md.splitlines() if x.startswith("| ") and x.rstrip().endswith("| yes |")]
    assert len(rows) == len(front)  # one row per front member, each meeting the constraints
    best = cands.loc[cands["candidate"] == json.loads((out / "manifest.json").read_text())["cheapest"]].iloc[0]
    assert any(x.startswith("| A | ") and f" {best[SHARE]:g} |" in x for x in rows)  # the figure's option A
    for link in re.findall(r"!\[[^]]*\]\(([^)]+)\)", md):
        assert (out / link).is_file(), link
    seen = images_in_browser(out / "report.html", tmp_path)
    assert seen["total"] == 2 and seen["loaded"] == 2, seen
    written = re.compile(r"report written</td><td>[^<]*")  # the one line that differs: when it was written
    api = sim.write_report(out, out / "api.html").read_text()  # the Python API, as the command
    assert written.sub("", api) == written.sub("", page)
    (out / "api.html").unlink()
    (out / "api.md").unlink()
    assert main(["optimize", str(reference[0]), "--out", str(out), "--serial", "--quiet"]) == 0  # still ours


def test_report_of_an_unfinished_search_is_one_line(reference, tmp_path, capsys):
    from sim.cli import main

    _, out = _finished_copy(reference, tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "status": "running"}))
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "the search has not finished" in err
    assert not (out / "report.html").exists() and not (out / "report.md").exists()


# ------------------------------------------------------------------------------ calibration posteriors

MIN_COUNT = "policy.programs.district_exchange.quota.min_count"


def write_posterior(folder, weights=(0.5, 0.3, 0.2, 0.0), counts=(0, 25, 40, 999)):
    """A tiny posterior sample as teachersim calibrate writes it (docs/calibration.md, "Posterior
    sample"): the head count of the exchange is uncertain (the last particle has weight 0 and must
    never be drawn); a `mean:` column is the model's mean at the particle, not a parameter."""
    path = folder / "posterior.parquet"
    pd.DataFrame({"particle": range(len(weights)), "weight": weights, "distance": 0.1, "generation": 3,
                  MIN_COUNT: list(counts), "mean:dc_rotations/people": 50.0}).to_parquet(path)
    return path


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    """A search judged across 3 worlds of a finished calibration's folder (named instead of its file)."""
    folder = tmp_path_factory.mktemp("posterior")
    (folder / "calib").mkdir()
    write_posterior(folder / "calib")
    (folder / "calib" / "manifest.json").write_text('{"kind": "calibration", "status": "complete", "method": "abc"}')
    # one of the plausible worlds places only a few rotators in year 1 (hosts capped at their norm),
    # so the constraint asks for 10 in 60% of the runs rather than in all of them
    path = write_file(folder, posterior={"file": "calib", "worlds": 3},
                      constraints=[{"metric": "rotations", "at_least": 10, "year": 1, "share": 0.6}],
                      search={"generations": 2, "population": 6, "seed": 2})
    optimize(path, folder / "out", executor=Serial())
    return path, folder / "out"


def test_worlds_are_drawn_by_weight_from_the_seed_alone():
    from sim.experiments.posterior import draw_worlds

    rows = [{"a": 0}, {"a": 1}, {"a": 2}]
    picks, worlds = draw_worlds(rows, np.array([0.7, 0.3, 0.0]), 400, seed=11)
    assert set(picks) == {0, 1} and worlds[:5] == [rows[i] for i in picks[:5]]
    assert abs(np.mean(np.array(picks) == 0) - 0.7) < 0.08
    assert draw_worlds(rows, np.array([0.7, 0.3, 0.0]), 400, seed=11)[0] == picks
    assert draw_worlds(rows, np.array([0.7, 0.3, 0.0]), 400, seed=12)[0] != picks


def test_each_candidate_is_judged_in_every_plausible_world(judged):
    from scipy import stats

    from sim.config.scenario import load_scenario
    from sim.experiments.optimize import metric_value
    from sim.experiments.run import replicate_metrics

    _, out = judged
    manifest = json.loads((out / "manifest.json").read_text())
    worlds = manifest["worlds"]
    assert len(worlds) == 3 and all(w[MIN_COUNT] in (0, 25, 40) for w in worlds)
    reps = pd.read_parquet(out / "replicates.parquet")
    cands = pd.read_parquet(out / "candidates.parquet").set_index("candidate")
    assert len(manifest["seeds"]) == 6 == len(set(manifest["seeds"]))
    for key, runs in reps.groupby("candidate"):
        pairs = sorted(zip(runs["world"], runs["replicate"], strict=True))
        assert pairs == [(k, r) for k in range(3) for r in range(2)]
        assert list(runs.sort_values(["world", "replicate"])["seed"]) == manifest["seeds"]  # the same for all
        means = runs.groupby("world")["objective_0"].mean().to_numpy()
        row = cands.loc[key]
        assert row["objective_0"] == pytest.approx(means.mean())
        assert row["objective_0_worst"] == pytest.approx(means.max())  # commute: minimised
        if np.ptp(means) > 0:
            half = stats.t.ppf(0.975, 2) * stats.sem(means)
            assert row["objective_0_high"] == pytest.approx(means.mean() + half)
        assert row["constraint_0_share_met"] == pytest.approx(np.mean(runs["constraint_0"] >= 10))
    # one run again here: world 2's values and the candidate's levers on the base, seed of world 2, replicate 1
    key, values = next((k, v) for k, v in cands.iterrows() if v["valid"])
    scenario = load_scenario(BASE, [*TINY, "run.years=3", f"{MIN_COUNT}={worlds[2][MIN_COUNT]}",
                                    f"{SHARE}={values[SHARE]}", f"{BEDS}={values[BEDS]}"])
    run = reps[(reps["candidate"] == key) & (reps["world"] == 2) & (reps["replicate"] == 1)].iloc[0]
    metrics = replicate_metrics(scenario, 1, manifest["seeds"][5])
    assert run["objective_0"] == metric_value(metrics, "mean_commute_rotators:all", years=[1, 3])
    assert run["constraint_0"] == metric_value(metrics, "rotations:all", year=1)


def test_answer_and_report_of_a_search_across_worlds_give_the_worst_world(judged, tmp_path, capsys):
    import shutil

    from sim.cli import main

    path, out = judged
    shutil.copytree(out, tmp_path / "out")
    assert main(["optimize", str(path), "--out", str(tmp_path / "out"), "--answer", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "Over 3 plausible worlds x 2 replicates on common seeds" in text and "(worst world " in text
    base = json.loads((tmp_path / "out" / "base.json").read_text())["rows"]
    assert sorted((r["world"], r["replicate"]) for r in base) == [(k, r) for k in range(3) for r in range(2)]
    assert main(["report", str(tmp_path / "out")]) == 0
    assert "worst world: " in (tmp_path / "out" / "report.md").read_text()


@pytest.mark.parametrize("frame, words", [
    (pd.DataFrame({MIN_COUNT: [1, 2]}), "no 'weight' column"),
    (pd.DataFrame({"weight": [1.0, -1.0], MIN_COUNT: [1, 2]}), "weight: must be finite, non-negative"),
    (pd.DataFrame({"weight": [1.0], "policy.nope": [1]}), "plausible world 0 makes the base invalid"),
    (pd.DataFrame({"weight": [1.0], BEDS: [3]}), f"{BEDS!r} is a lever too"),
    (pd.DataFrame({"weight": [1.0], "particle": [0]}), "no parameter column"),
    (None, "posterior sample not found"),
    ("running calibration", "the calibration has no complete posterior sample (posterior.parquet) yet"),
])
def test_a_bad_posterior_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, frame, words):
    from sim.cli import main

    name = "posterior.parquet"
    if isinstance(frame, pd.DataFrame):
        frame.to_parquet(tmp_path / name)
    elif frame == "running calibration":  # a calibration's folder, its ABC run not finished
        name = "calib"
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text('{"kind": "calibration", "status": "running"}')
    path = write_file(tmp_path, posterior={"file": name, "worlds": 2})
    assert main(["optimize", str(path), "--out", str(tmp_path / "out"), "--serial", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(path) in err and words in err, err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------ prices


def test_a_price_at_an_end_of_its_explored_range_can_change_the_cheapest_choice(tmp_path):
    from sim.experiments.optimize_answer import price_ends

    opt = load_optimisation(write_file(tmp_path))  # beds 6,000 a bed-year; classrooms 80,000 (40,000 to 120,000)
    frame = pd.DataFrame({"candidate": ["beds", "rooms"], "generation": 1, "position": [0, 1], "valid": True,
                          "feasible": True, "non_dominated": True, SHARE: 0.3, BEDS: [10, 0]})
    reps = pd.DataFrame({"candidate": ["beds", "rooms"], "quantity_allowance": 0.0,
                         "quantity_dormitory_bed": [10.0, 0.0], "quantity_double_teacher_classroom": [0.0, 1.0]})
    frame["cost"] = frame["candidate"].map({"beds": 10 * 6000, "rooms": 80000})  # beds are cheaper at these prices
    ends = {(e.item, e.end): e for e in price_ends(opt, frame, reps)}
    assert set(ends) == {("allowance", "low"), ("allowance", "high"), ("double_teacher_classroom", "low"),
                         ("double_teacher_classroom", "high")}  # the sourced bed price is not explored
    assert ends["double_teacher_classroom", "low"].candidate == "rooms"  # 40,000 < 60,000
    assert ends["double_teacher_classroom", "low"].words.endswith("dormitories per district 0")
    assert ends["double_teacher_classroom", "high"].candidate == "beds" and ends["allowance", "low"].words == ""


def test_every_price_of_the_shipped_examples_has_a_unit_and_a_cited_source_or_an_explored_range():
    import re

    keys = set(re.findall(r"^\| ([A-Z][A-Z0-9-]+) \|", (REPO / "docs" / "sources.md").read_text(), re.M))
    for path in sorted((REPO / "optimize").glob("*.yaml")):
        costs = load_optimisation(path).spec.costs
        for item in ("allowance", "dormitory_bed", "double_teacher_classroom"):
            price = getattr(costs, item)
            assert price.unit
            if price.source is not None:
                cited = re.findall(r"sources\.md: ([A-Z][A-Z0-9-]+)", price.source)
                assert cited and set(cited) <= keys, (path, item, price.source)
            else:
                assert price.assumption and price.explored, (path, item)


def test_answer_says_when_the_base_scenario_meets_the_constraints_for_less(tmp_path, capsys):
    from sim.cli import main

    levers = {SHARE: {"low": 0.0, "high": 0.6}, BEDS: {"low": 5, "high": 30, "integer": True}}  # beds cost money
    path = write_file(tmp_path, levers=levers,
                      constraints=[{"metric": "rotations", "at_least": 0, "year": 1}],
                      search={"generations": 1, "population": 4, "seed": 1})
    assert main(["optimize", str(path), "--out", str(tmp_path / "out"), "--serial", "--quiet", "--answer"]) == 0
    out = capsys.readouterr().out
    assert "By the base scenario: rotations:all at least 0 in year 1 in at least 100% of replicates: met in 100%" in out
    assert "The base scenario meets the constraints itself, and costs less than the cheapest candidate found" in out
