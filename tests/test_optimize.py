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

from sim.experiments.costs import Costs, run_cost
from sim.experiments.executors import Serial
from sim.experiments.optimize import OptimizeError, load_optimisation, non_dominated, optimize

BASE = REPO / "tests" / "data" / "sweep_base.yaml"  # one program, 'district_exchange'
TINY = ["world.schools_per_district=12", "world.teachers_per_school=15",
        "policy.programs.district_exchange.quota.min_count=0"]
SHARE = "policy.programs.district_exchange.quota.share_of_eligible"
BEDS = "policy.dormitories_per_district"
PRICES = {"allowance": {"value": 20000, "unit": "per teacher-year on rotation at allowance 1.0", "assumption": True},
          "dormitory_bed": {"value": 6000, "unit": "per bed per year", "source": "a test price"},
          "double_teacher_classroom": {"value": 80000, "unit": "per classroom per year", "assumption": True}}
OUTPUTS = ("candidates.parquet", "replicates.parquet", "front.parquet", "convergence.parquet")


def write_file(folder, **change):
    spec = {"name": "tiny", "base": str(BASE), "set": TINY, "years": 3, "replicates": 2, "seed": 5,
            "levers": {SHARE: {"low": 0.0, "high": 0.6}, BEDS: {"low": 0, "high": 30, "integer": True}},
            "objectives": [{"metric": "mean_commute_rotators", "years": [1, 3]}, {"metric": "cost"}],
            "constraints": [{"metric": "rotations", "at_least": 20, "year": 1, "share": 1.0}],
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
    met = reps.assign(ok=reps["constraint_0"] >= 20).groupby("candidate")["ok"].mean()
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
    assert (reps.loc[reps["candidate"] == manifest["cheapest"], "constraint_0"] >= 20).all()
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
                            "group": ["all", "all", "all", "primary@A"], "value": [99.0, 4.0, 6.0, 0.3]})
    metrics = pd.concat([metrics, metrics.assign(group=metrics["group"].str.replace("@A", "@B"))
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
