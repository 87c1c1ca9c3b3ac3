"""The bad-input corpus (tests/bad_inputs/expected.yaml): every malformed input exits 2 with the one
expected line on stderr, no traceback, and nothing written; plus the documented non-errors.

The cases run the real command in subprocesses (three at a time, once per session); each case is
then its own test, so a failure names the case.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "tests" / "bad_inputs"
CASES = yaml.safe_load((CORPUS / "expected.yaml").read_text(encoding="utf-8"))["cases"]
CONTROLS = {"rosters/ok/scenario.yaml", "rosters/ok/schools.csv", "rosters/ok/teachers.csv", "rosters/ok/twinning.csv",
            "sweeps/ok.yaml", "sweeps/base_ok.yaml", "expected.yaml"}
# files used only through `extends:` by the case named
HELPERS = {"scenarios/unknown_in_base_parent.yaml": "scenarios/unknown_in_base.yaml",
           "scenarios/extends_cycle_b.yaml": "scenarios/extends_cycle_a.yaml"}
# what the issue asks the corpus to cover (the `what` of the cases)
CATEGORIES = {"YAML syntax, encoding and structure", "unknown keys at every level", "wrong types",
              "shares outside [0, 1]", "negative counts", "quotas no eligible pool can meet",
              "extends of a missing or cyclic base", "names the world does not have", "rosters", "sweep files",
              "absurd sizes"}


def command(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "sim", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def outcomes():
    """Every case run once: id -> (completed process, what its temporary folder holds afterwards)."""
    before = tree_digest(CORPUS)
    scratch = Path(tempfile.mkdtemp(prefix="teachersim-bad-"))

    def run(case):
        tmp = scratch / case["id"]
        tmp.mkdir()
        args = [a.replace("{out}", str(tmp / "out")) for a in case["args"]]
        done = command(*args)
        return case["id"], (done, sorted(p.name for p in tmp.iterdir()), str(tmp / "out"))

    try:
        with cf.ThreadPoolExecutor(3) as pool:
            results = dict(pool.map(run, CASES))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    assert tree_digest(CORPUS) == before, "a command changed a file of the corpus"
    return results


def test_the_corpus_is_large_and_covers_every_category():
    ids = [c["id"] for c in CASES]
    assert len(ids) >= 40
    assert len(set(ids)) == len(ids), "case ids repeat"
    assert CATEGORIES <= {c["what"] for c in CASES}
    for c in CASES:
        assert c["error"].startswith("teachersim: "), c["id"]


def test_every_corpus_file_is_used_by_a_case():
    """No orphan inputs: every file of the corpus is named by a case (or extended by one)."""
    named = {a for c in CASES for a in c["args"]}
    text = " ".join(named)
    for path in sorted(CORPUS.rglob("*")):
        rel = str(path.relative_to(CORPUS))
        if path.is_dir() or rel in CONTROLS:
            continue
        if path.suffix == ".csv":  # a roster case's broken file, next to the scenario naming it
            assert (path.parent / "scenario.yaml").is_file(), rel
            rel = str(path.parent.relative_to(CORPUS) / "scenario.yaml")
        rel = HELPERS.get(rel, rel)
        assert f"tests/bad_inputs/{rel}" in text, f"{rel} is used by no case"


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(outcomes, case):
    done, left, out = outcomes[case["id"]]
    expected = case["error"].replace("{dir}", str(CORPUS)).replace("{out}", out)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stderr.splitlines() == [expected]
    assert done.stdout == ""
    assert left == [], f"written beside --out: {left}"


# ------------------------------------------------------------------------------------- controls


def test_the_roster_control_is_valid_and_runs():
    """Each roster case is this folder with one file broken: the control itself must be fine."""
    import sim

    res = sim.run(CORPUS / "rosters" / "ok" / "scenario.yaml", years=2)
    post = res.metrics.query("metric == 'teachers_in_post' and group == 'all'")["value"]
    assert post.iloc[0] == 20
    assert res.metrics.query("metric == 'rotations'")["value"].sum() > 0


def test_the_sweep_control_is_valid():
    from sim.config.designs import load_sweep

    sw = load_sweep(CORPUS / "sweeps" / "ok.yaml")
    assert sw.n_runs == 6


# ---------------------------------------------------- quotas above the pool: capped, documented


def test_a_quota_above_the_world_is_capped_with_a_warning(tmp_path):
    """Not an error: validate and run say what will happen (one warning line) and go on; each year
    every eligible teacher is selected, and rotations + unmatched = eligible."""
    import sim
    from sim.config.scenario import load_scenario

    path = CORPUS / "sweeps" / "base_ok.yaml"
    big = ["policy.programs.0.quota.min_count=1000000"]
    done = command("validate", str(path), "--set", big[0])
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"teachersim: warning: {path}: policy.programs.0.quota.min_count: 1,000,000 is above the about 180 "
        "teachers of this world; each year it is capped at the number eligible"]
    assert yaml.safe_load(done.stdout)["policy"]["programs"][0]["quota"]["min_count"] == 1_000_000

    res = sim.run(load_scenario(path, big), years=3)
    m = res.metrics[res.metrics["group"] == "all"].pivot_table(index="year", columns="metric", values="value")
    for year in (1, 2, 3):
        assert m.loc[year, "eligible"] > 0
        assert m.loc[year, "rotations"] + m.loc[year, "unmatched"] == m.loc[year, "eligible"], year
    assert m.loc[1, "rotations"] > 0


def test_no_warning_for_a_quota_the_world_can_meet():
    done = command("validate", str(CORPUS / "sweeps" / "base_ok.yaml"))
    assert done.returncode == 0 and done.stderr == ""


# ------------------------------------------- absurd sizes are refused before anything is built


def test_an_absurd_synthetic_world_is_refused_before_it_is_built(monkeypatch):
    import sim.experiments.run
    import sim.world
    from sim.config.scenario import ScenarioError, load_scenario

    def never(*args, **kwargs):
        raise AssertionError("the world was built")

    monkeypatch.setattr(sim.world, "synthetic_world", never)
    with pytest.raises(ScenarioError, match="256,000,000 teachers is above world.max_teachers"):
        sim.experiments.run.run(load_scenario(CORPUS / "scenarios" / "size_absurd.yaml"), years=1)


def test_a_roster_above_max_teachers_is_refused_before_it_is_read(monkeypatch):
    import sim.world
    from sim.config.scenario import load_scenario

    def never(*args, **kwargs):
        raise AssertionError("the roster was read")

    monkeypatch.setattr(sim.world, "read_roster", never)
    sc = load_scenario(CORPUS / "rosters" / "too_many_teachers" / "scenario.yaml")
    with pytest.raises(sim.world.RosterError, match="20 teachers is above world.max_teachers"):
        sim.world.build_world(sc.world, None, sc.source_dir)


# ------------------------------------------------------------ names checked against the world


def test_synthetic_names_known_before_building_are_the_built_names():
    """The names the scenario is checked against (sim.world.presets.synthetic_shape) are exactly those the
    generator gives, for presets and knobs that change them."""
    import numpy as np

    from sim.config.scenario import World
    from sim.world import build_world
    from sim.world.presets import synthetic_shape

    for knobs in ({}, {"preset": "beijing", "districts": 3, "schools_per_district": 6, "teachers_per_school": 8},
                  {"preset": "beijing", "districts": 18, "schools_per_district": 2, "teachers_per_school": 5},
                  {"schools_per_district": 3, "school_districts_per_district": 5, "teachers_per_school": 6},
                  {"scale": 0.05, "teachers_per_school": 6, "groups_per_district": 0}):
        world = World(**knobs)
        shape = synthetic_shape(world)
        built = build_world(world, np.random.default_rng(0))
        assert built.district_names == shape.district_names, knobs
        assert built.school_district_names == shape.school_district_names, knobs
        assert len(built.group_names) == shape.groups * len(shape.district_names), knobs
        assert built.n_schools == shape.schools_per_district * len(shape.district_names), knobs


def test_inherited_roster_paths_resolve_from_the_file_that_names_them():
    """rosters/*/scenario.yaml inherit schools.csv from rosters/ok/scenario.yaml: it must be read
    from rosters/ok/, not from the extending file's folder (where it does not exist)."""
    from sim.config.scenario import load_scenario
    from sim.world.presets import roster_paths

    sc = load_scenario(CORPUS / "rosters" / "age_300" / "scenario.yaml")
    schools, teachers = roster_paths(sc)
    assert schools == CORPUS / "rosters" / "ok" / "schools.csv"
    assert teachers == CORPUS / "rosters" / "age_300" / "teachers.csv"
    # a path given with --set stays relative to the top file, as before
    sc = load_scenario(CORPUS / "rosters" / "age_300" / "scenario.yaml", ["world.roster.schools_csv=x.csv"])
    assert roster_paths(sc)[0] == CORPUS / "rosters" / "age_300" / "x.csv"
